/* The transaction and block walks: scan_block, scan_table, merkle_root, block_weight,
 * block_check. Twin: walk.py (and scantable.py). */
#include "core.h"

void tx_walk(Cursor *c, TxSpan *t, TableBuild *b, Probe *probe) {
    t->start = c->p;
    if (b != NULL) {
        b->starts[b->k] = (uint64_t)c->p;
        b->coin_at[b->k] = b->nc;
        b->member_at[b->k] = b->nm;
    }
    if (!need(c, 6)) return;
    c->p += 4;
    int segwit = c->d[c->p] == 0 && c->d[c->p + 1] != 0;
    if (segwit) c->p += 2;
    t->body_start = c->p;
    uint64_t n_in = compact_size(c);
    for (uint64_t i = 0; i < n_in && !c->bad; i++) {
        if ((b != NULL || probe != NULL) && need(c, 36)) {
            uint64_t fp = le_u64(c->d + c->p, 8) ^ le_u64(c->d + c->p + 32, 4);
            if (probe != NULL) probe->hit |= filter_has(probe->coins, fp);
            if (b != NULL) {
                if (b->nc >= b->coin_cap) { c->bad = 1; return; }
                b->coin_fps[b->nc++] = fp;
            }
        }
        skip(c, 36);
        skip(c, compact_size(c));
        skip(c, 4);
    }
    uint64_t n_out = compact_size(c);
    for (uint64_t i = 0; i < n_out && !c->bad; i++) {
        skip(c, 8);
        uint64_t len = compact_size(c);
        if ((b != NULL || probe != NULL) && !c->bad && len <= (uint64_t)PY_SSIZE_T_MAX
                && need(c, (Py_ssize_t)len)) {
            uint64_t fp = member_fp(c->d + c->p, (Py_ssize_t)len);
            if (probe != NULL) probe->hit |= filter_has(probe->members, fp);
            if (b != NULL) {
                if (b->nm >= b->member_cap) { c->bad = 1; return; }
                b->member_fps[b->nm++] = fp;
            }
        }
        skip(c, len);
    }
    t->body_end = c->p;
    if (segwit) {
        for (uint64_t i = 0; i < n_in && !c->bad; i++) {
            uint64_t items = compact_size(c);
            for (uint64_t j = 0; j < items && !c->bad; j++) skip(c, compact_size(c));
        }
    }
    t->lock = c->p;
    skip(c, 4);
}


/* ---------------------------------------------------------------------------------------- */
/* scan_block(data, pos, index, n_tx, coins, members) -> (index, pos)                         */

/* From the transaction at c->p (number *index) on, walk transactions until one may spend a coin
 * in `coins` or pay a script in `members`: its start, or -1 when none up to n_tx does (the
 * cursor then ends after the last one, *index == n_tx). A malformed transaction sets c->bad. */
Py_ssize_t scan_from(Cursor *c, Py_ssize_t *index, Py_ssize_t n_tx, const Filter *coins,
                            const Filter *members) {
    while (*index < n_tx && !c->bad) {
        Py_ssize_t start = c->p;
        Probe probe = {coins, members, 0};
        TxSpan span;
        tx_walk(c, &span, NULL, &probe);
        if (c->bad) break;
        if (probe.hit) return start;
        (*index)++;
    }
    return -1;
}

int scan_args_ok(Py_ssize_t pos, Py_ssize_t index, Py_ssize_t n_tx, Py_ssize_t len) {
    if (pos < 0 || pos > len || index < 0 || index > n_tx) {
        PyErr_Format(PyExc_ValueError,
                     "scan_block: pos %zd or index %zd outside the data (%zd bytes, %zd txs)",
                     pos, index, len, n_tx);
        return 0;
    }
    return 1;
}

PyObject *scan_block(PyObject *module, PyObject *args) {
    Py_buffer view;
    Py_ssize_t pos, index, n_tx;
    PyObject *coins_obj, *members_obj;
    if (!PyArg_ParseTuple(args, "y*nnnO!O!", &view, &pos, &index, &n_tx, &FilterType, &coins_obj,
                          &FilterType, &members_obj))
        return NULL;
    if (!scan_args_ok(pos, index, n_tx, view.len)) {
        PyBuffer_Release(&view);
        return NULL;
    }
    Cursor c = {view.buf, view.len, pos, 0};
    Py_ssize_t hit_at = scan_from(&c, &index, n_tx, (const Filter *)coins_obj,
                                  (const Filter *)members_obj);
    PyBuffer_Release(&view);
    if (c.bad) {
        PyErr_Format(PyExc_ValueError, "transaction %zd runs past the end of the data", index);
        return NULL;
    }
    return Py_BuildValue("nn", index, hit_at >= 0 ? hit_at : c.p);
}


/* ---------------------------------------------------------------------------------------- */
/* merkle_root(block) -> bytes                                                                */

/* Step over a block's header and read its transaction count; the reason it cannot be a
 * block, or NULL. A transaction takes ten bytes at least: a larger count cannot be honest. */
const char *block_start(Cursor *c, uint64_t *n_tx) {
    skip(c, 80);
    *n_tx = compact_size(c);
    if (c->bad || *n_tx > (uint64_t)(c->n - c->p) / 10) return "block runs past its end";
    if (*n_tx == 0) return "block holds no transactions";
    return NULL;
}

/* The stripped size of a walked transaction: version, inputs and outputs, lock time. */
static Py_ssize_t tx_stripped_size(const TxSpan *t) {
    return 4 + (t->body_end - t->body_start) + 4;
}

/* The txid of a walked transaction: the double SHA-256 of version, inputs and outputs, lock
 * time, without the segwit marker, flag and witnesses. */
void tx_hash(const Cursor *c, const TxSpan *t, uint8_t out[32]) {
    if (t->body_start == t->start + 4) {
        sha256d(c->d + t->start, (size_t)(t->lock + 4 - t->start), out);
        return;
    }
    Sha256 s;
    sha256_init(&s);
    sha256_update(&s, c->d + t->start, 4);
    sha256_update(&s, c->d + t->body_start, (size_t)(t->body_end - t->body_start));
    sha256_update(&s, c->d + t->lock, 4);
    sha256d_finish(&s, out);
}

/* Fold n >= 1 txids at `nodes` (room for n + 1) into their merkle root, in place. */
static void merkle_fold(uint8_t *nodes, size_t n, uint8_t root[32]) {
    size_t level = n;
    while (level > 1) {
        if (level % 2) {
            memcpy(nodes + 32 * level, nodes + 32 * (level - 1), 32);
            level++;
        }
        for (size_t i = 0; i < level / 2; i++) sha256d(nodes + 64 * i, 64, nodes + 32 * i);
        level /= 2;
    }
    memcpy(root, nodes, 32);
}

int table_build_init(TableBuild *b, uint64_t n_tx, Py_ssize_t left) {
    b->tx_cap = (size_t)n_tx + 1;  /* block_start bounds n_tx by the bytes left / 10 */
    b->coin_cap = (size_t)left / 36 + 1;
    b->member_cap = (size_t)left / 9 + 1;
    b->k = b->nc = b->nm = 0;
    b->starts = PyMem_Malloc(sizeof(uint64_t) * (3 * b->tx_cap + b->coin_cap + b->member_cap));
    if (b->starts == NULL) return -1;
    b->coin_at = b->starts + b->tx_cap;
    b->member_at = b->coin_at + b->tx_cap;
    b->coin_fps = b->member_at + b->tx_cap;
    b->member_fps = b->coin_fps + b->coin_cap;
    return 0;
}

/* After the walk: the table's bytes (transaction b->k is malformed when `bad`), or NULL. */
static PyObject *table_build_bytes(TableBuild *b, uint64_t n_tx, int bad, Py_ssize_t end) {
    size_t k = b->k;
    if (bad) {  /* none of the malformed transaction's fingerprints are kept */
        b->nc = b->coin_at[k];
        b->nm = b->member_at[k];
    } else {
        b->starts[k] = (uint64_t)end;
        b->coin_at[k] = b->nc;
        b->member_at[k] = b->nm;
    }
    size_t words = 3 + 3 * (k + 1) + b->nc + b->nm;
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(words * 8));
    if (out == NULL) return NULL;
    uint8_t *w = (uint8_t *)PyBytes_AS_STRING(out);
    size_t at = 0;
    put_le64(w, at++, n_tx);
    put_le64(w, at++, k);
    put_le64(w, at++, (uint64_t)bad);
    for (size_t i = 0; i <= k; i++) put_le64(w, at++, b->starts[i]);
    for (size_t i = 0; i <= k; i++) put_le64(w, at++, b->coin_at[i]);
    for (size_t i = 0; i <= k; i++) put_le64(w, at++, b->member_at[i]);
    for (size_t i = 0; i < b->nc; i++) put_le64(w, at++, b->coin_fps[i]);
    for (size_t i = 0; i < b->nm; i++) put_le64(w, at++, b->member_fps[i]);
    return out;
}

/* The wtxid of a walked transaction: the double SHA-256 of all of it, witnesses included. */
static void tx_whash(const Cursor *c, const TxSpan *t, uint8_t out[32]) {
    sha256d(c->d + t->start, (size_t)(t->lock + 4 - t->start), out);
}

/* BIP 141 for a block with witness data, its transactions walked whole: the coinbase (walked
 * at `cb`) must hold a commitment output (the last output whose script is at least 38 bytes
 * and starts 6a24aa21a9ed) equal to sha256d(witness root || the coinbase's witness reserved
 * value, its first input's one 32-byte witness item); `wnodes` holds every wtxid, the
 * coinbase's as 32 zero bytes, with room for one more. The reason it fails, or NULL. */
static const char *witness_fault(const Cursor *block, const TxSpan *cb, uint8_t *wnodes,
                                 size_t n_tx) {
    Cursor c = {block->d, cb->lock, cb->body_start, 0};
    const uint8_t *commit = NULL;
    uint64_t n_in = compact_size(&c);
    for (uint64_t i = 0; i < n_in && !c.bad; i++) {
        skip(&c, 36);
        skip(&c, compact_size(&c));
        skip(&c, 4);
    }
    uint64_t n_out = compact_size(&c);
    for (uint64_t i = 0; i < n_out && !c.bad; i++) {
        skip(&c, 8);
        uint64_t len = compact_size(&c);
        if (!c.bad && len >= 38 && len <= (uint64_t)PY_SSIZE_T_MAX && need(&c, (Py_ssize_t)len)
                && memcmp(c.d + c.p, "\x6a\x24\xaa\x21\xa9\xed", 6) == 0)
            commit = c.d + c.p + 6;
        skip(&c, len);
    }
    if (c.bad) return "its coinbase cannot be read";
    if (commit == NULL) return "it has witness data but no witness commitment in its coinbase";
    const uint8_t *reserved = NULL;
    if (cb->body_start > cb->start + 4 && n_in >= 1) {
        uint64_t items = compact_size(&c);
        uint64_t len = items == 1 ? compact_size(&c) : 0;
        if (!c.bad && items == 1 && len == 32 && need(&c, 32)) reserved = c.d + c.p;
    }
    if (reserved == NULL)
        return "its coinbase lacks the witness reserved value (one 32-byte witness item)";
    uint8_t pair[64];
    merkle_fold(wnodes, n_tx, pair);
    memcpy(pair + 32, reserved, 32);
    uint8_t expected[32];
    sha256d(pair, 64, expected);
    if (memcmp(expected, commit, 32) != 0)
        return "its witness data does not match the witness commitment in its coinbase";
    return NULL;
}

/* One walk over a whole block, with the GIL released: its BIP 141 weight (three times the
 * stripped size, i.e. header, transaction count and every transaction without marker, flag and
 * witnesses, plus the total size), when `root` is given the merkle root of its txids, when
 * `table` is given its scan table (a new bytes object), and with `witness` the BIP 141
 * commitment checked when any transaction has witness data (witness_fault). 0, or -1 with
 * ValueError (or MemoryError) set. */
static int block_walk(PyObject *arg, uint8_t *root, unsigned long long *weight,
                      PyObject **table, int witness) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return -1;
    Cursor c = {view.buf, view.len, 0, 0};
    uint8_t *nodes = NULL, *wnodes = NULL;
    TableBuild build = {0}, *b = NULL;
    const char *why = NULL;
    uint64_t n_tx = 0;
    Py_ssize_t stripped = 0;
    if ((why = block_start(&c, &n_tx)) == NULL) {
        if ((root != NULL && (nodes = PyMem_Malloc((size_t)n_tx * 32 + 32)) == NULL)
                || (witness && (wnodes = PyMem_Malloc((size_t)n_tx * 32 + 32)) == NULL)
                || (table != NULL && table_build_init(&build, n_tx, c.n - c.p) < 0)) {
            PyMem_Free(nodes);
            PyMem_Free(wnodes);
            PyBuffer_Release(&view);
            PyErr_NoMemory();
            return -1;
        }
        b = table != NULL ? &build : NULL;
        stripped = c.p;
        int has_witness = 0;
        TxSpan coinbase = {0, 0, 0, 0};
        Py_BEGIN_ALLOW_THREADS
        for (uint64_t t = 0; t < n_tx && !c.bad; t++) {
            TxSpan span;
            tx_walk(&c, &span, b, NULL);
            if (c.bad) break;
            if (b != NULL) b->k++;
            stripped += tx_stripped_size(&span);
            if (nodes != NULL) tx_hash(&c, &span, nodes + 32 * t);
            if (wnodes != NULL) {
                int segwit = span.body_start > span.start + 4;
                has_witness |= segwit;
                if (t == 0) {
                    coinbase = span;
                    memset(wnodes, 0, 32);
                } else if (segwit) {
                    tx_whash(&c, &span, wnodes + 32 * t);
                } else if (nodes != NULL) {
                    memcpy(wnodes + 32 * t, nodes + 32 * t, 32);
                } else {
                    tx_hash(&c, &span, wnodes + 32 * t);
                }
            }
        }
        if (nodes != NULL && !c.bad && c.p == c.n) merkle_fold(nodes, (size_t)n_tx, root);
        Py_END_ALLOW_THREADS
        if (c.bad) why = "block runs past its end";
        else if (c.p != c.n) why = "block has bytes after its last transaction";
        else if (has_witness) {
            Py_BEGIN_ALLOW_THREADS
            why = witness_fault(&c, &coinbase, wnodes, (size_t)n_tx);
            Py_END_ALLOW_THREADS
        }
    }
    /* stripped <= total <= PY_SSIZE_T_MAX: the sum fits in 64 bits unsigned */
    *weight = 3 * (unsigned long long)stripped + (unsigned long long)view.len;
    PyMem_Free(nodes);
    PyMem_Free(wnodes);
    PyBuffer_Release(&view);
    if (why == NULL && b != NULL) *table = table_build_bytes(b, n_tx, 0, c.p);
    PyMem_Free(build.starts);
    if (why != NULL) {
        PyErr_SetString(PyExc_ValueError, why);
        return -1;
    }
    return b != NULL && *table == NULL ? -1 : 0;  /* no memory for the table's bytes */
}

PyObject *merkle_root(PyObject *module, PyObject *arg) {
    uint8_t root[32];
    unsigned long long weight;
    if (block_walk(arg, root, &weight, NULL, 0) < 0) return NULL;
    return PyBytes_FromStringAndSize((const char *)root, 32);
}

/* ---------------------------------------------------------------------------------------- */
/* block_weight(block) -> int                                                                 */

PyObject *block_weight(PyObject *module, PyObject *arg) {
    unsigned long long weight;
    if (block_walk(arg, NULL, &weight, NULL, 0) < 0) return NULL;
    return PyLong_FromUnsignedLongLong(weight);
}

/* ---------------------------------------------------------------------------------------- */
/* block_check(block) -> (merkle root, weight, scan table)                                   */

/* merkle_root, block_weight and scan_table of the same bytes from one walk, which also checks
 * the witness commitment of a block with witness data (ValueError when it fails): the check of
 * every block on every path, and the walk the cohort step then need not do. */
PyObject *block_check(PyObject *module, PyObject *arg) {
    uint8_t root[32];
    unsigned long long weight;
    PyObject *table = NULL;
    if (block_walk(arg, root, &weight, &table, 1) < 0) return NULL;
    return Py_BuildValue("(y#KN)", (const char *)root, (Py_ssize_t)32, weight, table);
}


/* ---------------------------------------------------------------------------------------- */
/* scan_table(block) -> bytes                                                                 */

/* scan_from's walk over a whole block done ahead, with no filters: the read-ahead thread makes
 * it (GIL released) while the applying thread is busy with the block before, and the step then
 * only probes the fingerprints. u64 little-endian words:
 *   n_tx, k (transactions walked whole from the first), bad (1: transaction k is malformed),
 *   k + 1 starts (the last: the end of transaction k - 1, or where the bad one starts),
 *   k + 1 coin fingerprint starts, k + 1 member fingerprint starts,
 *   the coin fingerprints (one per input), the member fingerprints (one per output). */
PyObject *scan_table(PyObject *module, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    Cursor c = {view.buf, view.len, 0, 0};
    uint64_t n_tx = 0;
    const char *why = block_start(&c, &n_tx);
    TableBuild b;
    if (why != NULL || table_build_init(&b, n_tx, c.n - c.p) < 0) {
        PyBuffer_Release(&view);
        if (why != NULL) PyErr_SetString(PyExc_ValueError, why);
        else PyErr_NoMemory();
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    for (; b.k < n_tx; b.k++) {
        TxSpan span;
        tx_walk(&c, &span, &b, NULL);
        if (c.bad) break;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    PyObject *out = table_build_bytes(&b, n_tx, c.bad, c.p);
    PyMem_Free(b.starts);
    return out;
}

/* Read a table made by scan_table, trusting nothing: the words must be consistent with each
 * other, with the block's `n_tx` and length, and reach transaction `index` at `pos`. 0, or -1
 * with ValueError (the reference's `_read_table`). */
int table_from(Py_buffer *tv, Py_ssize_t data_len, Py_ssize_t pos, Py_ssize_t index,
                      Py_ssize_t n_tx, ScanTable *t) {
    const uint8_t *w = tv->buf;
    size_t words = (size_t)tv->len / 8;
    if (tv->len % 8 != 0 || words < 6) goto mismatch;
    t->n_tx = TABLE_WORD(w, 0);
    t->k = TABLE_WORD(w, 1);
    t->bad = TABLE_WORD(w, 2);
    if (t->n_tx != (uint64_t)n_tx || t->bad > 1 || t->k > t->n_tx
            || (t->bad == 0) != (t->k == t->n_tx) || t->k > (words - 3) / 3 - 1)
        goto mismatch;
    size_t k = (size_t)t->k;
    t->starts = w + 8 * 3;
    t->coin_at = t->starts + 8 * (k + 1);
    t->member_at = t->coin_at + 8 * (k + 1);
    const uint8_t *fps = t->member_at + 8 * (k + 1);
    uint64_t prev_start = 0, prev_coin = 0, prev_member = 0;
    for (size_t i = 0; i <= k; i++) {
        uint64_t s = TABLE_WORD(t->starts, i), a = TABLE_WORD(t->coin_at, i);
        uint64_t m = TABLE_WORD(t->member_at, i);
        if (s < prev_start || s > (uint64_t)data_len || a < prev_coin || m < prev_member
                || (i == 0 && (a != 0 || m != 0)))
            goto mismatch;
        prev_start = s;
        prev_coin = a;
        prev_member = m;
    }
    size_t fixed = 3 + 3 * (k + 1);
    if (prev_coin > words - fixed || prev_member != words - fixed - prev_coin) goto mismatch;
    t->coin_fps = fps;
    t->member_fps = fps + 8 * (size_t)prev_coin;
    if (index < 0 || (uint64_t)index > t->k || TABLE_WORD(t->starts, index) != (uint64_t)pos)
        goto mismatch;
    return 0;
mismatch:
    PyErr_SetString(PyExc_ValueError, "the scan table does not match the block");
    return -1;
}

#define PREFETCH_AHEAD 16  /* fingerprints probed ahead of the one looked up */

/* scan_from over a table: from transaction *index on, the first whose fingerprints the filters
 * hold (its number in *index), or -1 past the last one walked whole. */
Py_ssize_t table_scan(const ScanTable *t, Py_ssize_t *index, const Filter *coins,
                             const Filter *members) {
    uint64_t coins_end = TABLE_WORD(t->coin_at, t->k);
    uint64_t members_end = TABLE_WORD(t->member_at, t->k);
    /* an empty filter holds nothing to probe for (the exchange step follows no coin) */
    int no_coins = filter_empty(coins), no_members = filter_empty(members);
    for (; (uint64_t)*index < t->k; (*index)++) {
        Py_ssize_t i = *index;
        uint64_t a = TABLE_WORD(t->coin_at, i), a_end = TABLE_WORD(t->coin_at, i + 1);
        for (; a < a_end && !no_coins; a++) {
            if (a + PREFETCH_AHEAD < coins_end)
                filter_prefetch(coins, TABLE_WORD(t->coin_fps, a + PREFETCH_AHEAD));
            if (filter_has(coins, TABLE_WORD(t->coin_fps, a))) return i;
        }
        uint64_t m = TABLE_WORD(t->member_at, i), m_end = TABLE_WORD(t->member_at, i + 1);
        for (; m < m_end && !no_members; m++) {
            if (m + PREFETCH_AHEAD < members_end)
                filter_prefetch(members, TABLE_WORD(t->member_fps, m + PREFETCH_AHEAD));
            if (filter_has(members, TABLE_WORD(t->member_fps, m))) return i;
        }
    }
    return -1;
}

