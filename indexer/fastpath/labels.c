/* derive_candidates: the transactions of a block a `labels derive` pass must look at.
 * Twin: labels.py. */
#include "core.h"

/* ---------------------------------------------------------------------------------------- */
/* derive_candidates(block, undo, core) -> [(index, tx start, undo start), ...]               */

/* The member fingerprint of a script an undo record holds in Core's ScriptCompression (see
 * `undo_script`). */
static uint64_t undo_script_fp(uint64_t kind, const uint8_t *body, Py_ssize_t len) {
    uint8_t s[35];
    Py_ssize_t n;
    const uint8_t *script = undo_script(kind, body, len, s, &n);
    return member_fp(script, n);
}

/* A transaction is a candidate when an input spends a script whose fingerprint `core` holds
 * (R1), when it has one or two outputs and `core` holds every one's (R2), or when an input
 * spends an uncompressed P2PK script (kinds 4 and 5: its fingerprint needs the curve, so the
 * caller decides). Both the block and its undo record are walked whole and must match: as
 * many undo entries as non-coinbase transactions, as many spent outputs as inputs. */
PyObject *derive_candidates(PyObject *module, PyObject *args) {
    (void)module;
    Py_buffer bv, uv;
    PyObject *core_obj;
    if (!PyArg_ParseTuple(args, "y*y*O!", &bv, &uv, &FilterType, &core_obj)) return NULL;
    const Filter *core = (const Filter *)core_obj;
    PyObject *out = NULL;
    TableBuild b = {0};
    const char *why = NULL;
    Cursor c = {bv.buf, bv.len, 0, 0};
    Cursor u = {uv.buf, uv.len, 0, 0};
    uint64_t n_tx = 0;
    why = block_start(&c, &n_tx);
    if (why != NULL) goto done;
    if (table_build_init(&b, n_tx, c.n - c.p) < 0) {
        PyErr_NoMemory();
        goto done;
    }
    for (; b.k < n_tx; b.k++) {
        TxSpan span;
        tx_walk(&c, &span, &b, NULL);
        if (c.bad) { why = "a transaction runs past the end of the block"; goto done; }
    }
    b.starts[n_tx] = (uint64_t)c.p;
    b.coin_at[n_tx] = b.nc;
    b.member_at[n_tx] = b.nm;
    if (c.p != c.n) { why = "bytes after the block's last transaction"; goto done; }
    uint64_t n_undo = compact_size(&u);
    if (u.bad || n_undo != n_tx - 1) {
        why = "the undo record does not hold one entry per non-coinbase transaction";
        goto done;
    }
    out = PyList_New(0);
    if (out == NULL) goto done;
    for (uint64_t t = 1; t < n_tx; t++) {
        Py_ssize_t undo_start = u.p;
        uint64_t n_in = compact_size(&u);
        if (u.bad) { why = "undo record runs past its end"; goto done; }
        if (n_in != b.coin_at[t + 1] - b.coin_at[t]) {
            why = "the undo record does not match the block's inputs";
            goto done;
        }
        int hit = 0;
        for (uint64_t i = 0; i < n_in; i++) {
            uint64_t code = core_varint(&u);
            if (code >> 1) core_varint(&u);
            decompress_amount(&u, core_varint(&u));
            uint64_t kind = core_varint(&u);
            if (u.bad) { why = "undo record runs past its end"; goto done; }
            uint64_t len = kind < 6 ? (kind < 2 ? 20 : 32) : kind - 6;
            if (len > (uint64_t)PY_SSIZE_T_MAX || !need(&u, (Py_ssize_t)len)) {
                why = "undo record runs past its end";
                goto done;
            }
            if (!hit) {
                hit = kind == 4 || kind == 5
                      || filter_has(core, undo_script_fp(kind, u.d + u.p, (Py_ssize_t)len));
            }
            u.p += (Py_ssize_t)len;
        }
        uint64_t n_out = b.member_at[t + 1] - b.member_at[t];
        if (!hit && n_out >= 1 && n_out <= 2) {
            hit = 1;
            for (uint64_t o = b.member_at[t]; o < b.member_at[t + 1]; o++)
                hit &= filter_has(core, b.member_fps[o]);
        }
        if (hit) {
            PyObject *item = Py_BuildValue("(KKn)", (unsigned long long)t,
                                           (unsigned long long)b.starts[t], undo_start);
            if (item == NULL || PyList_Append(out, item) < 0) {
                Py_XDECREF(item);
                Py_CLEAR(out);
                goto done;
            }
            Py_DECREF(item);
        }
    }
    if (u.p != u.n) why = "undo record holds bytes after its last entry";
done:
    PyMem_Free(b.starts);
    PyBuffer_Release(&bv);
    PyBuffer_Release(&uv);
    if (why != NULL) {
        Py_XDECREF(out);
        PyErr_SetString(PyExc_ValueError, why);
        return NULL;
    }
    return out;
}
