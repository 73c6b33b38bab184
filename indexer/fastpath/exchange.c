/* undo_hits, undo_held and exchange_txs: SPEC 5.1 over a block's transactions, the spent
 * scripts read from the block's undo record. Twin: exchange.py. */
#include "core.h"

#define ALL_EXCHANGES 0xFFFF

/* ---------------------------------------------------------------------------------------- */
/* undo_hits(undo, scripts) -> ({tx index: (total, [(input index, script, value), ...])},     */
/*                              [(tx index, input index, kind, x, value, total), ...])        */

/* The script Core reads back from ScriptCompression's kind and body, into `s` (35 bytes) for
 * the rebuilt kinds 0-3; the body itself, *n its length, for a script kept whole (a body over
 * 10,000 bytes reads as OP_RETURN: s[0], *n = 1). Kinds 4 and 5 are not handled here. Shared
 * with labels.c. */
const uint8_t *undo_script(uint64_t kind, const uint8_t *body, Py_ssize_t len,
                                  uint8_t s[35], Py_ssize_t *n) {
    if (kind == 0) {
        s[0] = 0x76; s[1] = 0xA9; s[2] = 0x14;
        memcpy(s + 3, body, 20);
        s[23] = 0x88; s[24] = 0xAC;
        *n = 25;
        return s;
    }
    if (kind == 1) {
        s[0] = 0xA9; s[1] = 0x14;
        memcpy(s + 2, body, 20);
        s[22] = 0x87;
        *n = 23;
        return s;
    }
    if (kind == 2 || kind == 3) {
        s[0] = 0x21; s[1] = (uint8_t)kind;
        memcpy(s + 2, body, 32);
        s[34] = 0xAC;
        *n = 35;
        return s;
    }
    if (len > 10000) {
        s[0] = 0x6A;
        *n = 1;
        return s;
    }
    *n = len;
    return body;
}

#define PACKED_BAD "packed undo hits do not fit the undo record"

/* The packed form of a record with its hits (pack_block_undo's with a filter) and the record,
 * checked whole by packed_hits_from: every word read through it fits. */
typedef struct {
    const uint8_t *starts, *values, *hits, *rec;
    uint64_t n_tx, n_hits;
} PackedHits;

#define HIT_WORD(p, j, k) TABLE_WORD((p)->hits + 32 * (size_t)(j), (k))
static inline uint64_t hit_len(uint64_t kind) {
    return kind < 6 ? (kind < 2 ? 20 : 32) : kind - 6;
}

/* `p` over `w_len` bytes of packed words and the record; the words are trusted in nothing:
 * 0, or -1 with ValueError when counts, starts, the hits' order (ascending by transaction,
 * then input), an input index or a script body do not fit each other or the record. */
static int packed_hits_from(const uint8_t *w, Py_ssize_t w_len, const uint8_t *rec,
                            Py_ssize_t rec_len, PackedHits *p) {
    if (w_len < 16 || w_len % 8 != 0) goto bad;
    uint64_t nw = (uint64_t)w_len / 8, n_tx = TABLE_WORD(w, 0);
    if (n_tx > nw - 2) goto bad;
    *p = (PackedHits){w + 8, w + 8 * (2 + n_tx), NULL, rec, n_tx, 0};
    if (TABLE_WORD(p->starts, 0) != 0) goto bad;
    for (uint64_t t = 0; t < n_tx; t++)
        if (TABLE_WORD(p->starts, t + 1) < TABLE_WORD(p->starts, t)) goto bad;
    uint64_t n_values = TABLE_WORD(p->starts, n_tx), left = nw - 2 - n_tx;
    if (n_values >= left) goto bad;  /* the values, then the hits' count */
    left -= n_values + 1;
    p->n_hits = TABLE_WORD(p->values, n_values);
    if (p->n_hits > left / 4 || left != 4 * p->n_hits) goto bad;
    p->hits = p->values + 8 * (n_values + 1);
    uint64_t last_tx = 0, last_input = 0;
    for (uint64_t j = 0; j < p->n_hits; j++) {
        uint64_t tx = HIT_WORD(p, j, 0), input = HIT_WORD(p, j, 1);
        uint64_t len = hit_len(HIT_WORD(p, j, 2)), body = HIT_WORD(p, j, 3);
        if (tx == 0 || tx > n_tx || tx < last_tx || (tx == last_tx && input <= last_input))
            goto bad;
        if (input >= TABLE_WORD(p->starts, tx) - TABLE_WORD(p->starts, tx - 1)
                || body > (uint64_t)rec_len || len > (uint64_t)rec_len - body) goto bad;
        last_tx = tx;
        last_input = input;
    }
    return 0;
bad:
    PyErr_SetString(PyExc_ValueError, PACKED_BAD);
    return -1;
}

/* Hit j's spent value, and what all its transaction's inputs spend. */
static inline uint64_t hit_value(const PackedHits *p, uint64_t j) {
    uint64_t tx = HIT_WORD(p, j, 0);
    return TABLE_WORD(p->values, TABLE_WORD(p->starts, tx - 1) + HIT_WORD(p, j, 1));
}

static __int128 hit_tx_total(const PackedHits *p, uint64_t j) {
    uint64_t tx = HIT_WORD(p, j, 0);
    __int128 total = 0;
    for (uint64_t i = TABLE_WORD(p->starts, tx - 1); i < TABLE_WORD(p->starts, tx); i++)
        total += TABLE_WORD(p->values, i);
    return total;
}

/* Hit j's script as Core reads it back (kinds other than 4 and 5), *n its length. */
static inline const uint8_t *hit_script(const PackedHits *p, uint64_t j, uint8_t s[35],
                                        Py_ssize_t *n) {
    uint64_t kind = HIT_WORD(p, j, 2);
    return undo_script(kind, p->rec + HIT_WORD(p, j, 3), (Py_ssize_t)hit_len(kind), s, n);
}

/* (held, curve) as undo_hits answers, from packed hits checked whole. */
static PyObject *held_from_packed(const PackedHits *p) {
    PyObject *held = PyDict_New(), *curve = PyList_New(0), *out = NULL;
    PyObject *sum = NULL, *items = NULL;
    if (held == NULL || curve == NULL) goto done;
    for (uint64_t j = 0; j < p->n_hits; j++) {
        uint64_t tx = HIT_WORD(p, j, 0), input = HIT_WORD(p, j, 1), kind = HIT_WORD(p, j, 2);
        if (j == 0 || HIT_WORD(p, j - 1, 0) != tx) {  /* what all its inputs spend */
            Py_CLEAR(sum);
            if ((sum = int128_to_py(hit_tx_total(p, j))) == NULL) goto done;
        }
        unsigned long long value = hit_value(p, j);
        PyObject *item;
        if (kind == 4 || kind == 5) {  /* an uncompressed key: the caller rebuilds it */
            item = Py_BuildValue("(KKKy#KO)", (unsigned long long)tx, (unsigned long long)input,
                                 (unsigned long long)kind,
                                 (const char *)p->rec + HIT_WORD(p, j, 3),
                                 (Py_ssize_t)hit_len(kind), value, sum);
            if (item == NULL || PyList_Append(curve, item) < 0) { Py_XDECREF(item); goto done; }
            Py_DECREF(item);
        } else {
            uint8_t s[35];
            Py_ssize_t m;
            const uint8_t *script = hit_script(p, j, s, &m);
            item = Py_BuildValue("(Ky#K)", (unsigned long long)input, (const char *)script, m,
                                 value);
            if (item == NULL) goto done;
            if (items == NULL) {  /* the transaction's first held input: its entry */
                PyObject *key = PyLong_FromUnsignedLongLong(tx);
                items = key ? PyList_New(0) : NULL;
                PyObject *entry = items ? PyTuple_Pack(2, sum, items) : NULL;
                int failed = entry == NULL || PyDict_SetItem(held, key, entry) < 0;
                Py_XDECREF(entry);
                Py_XDECREF(key);
                if (failed) { Py_DECREF(item); goto done; }
            }
            int added = PyList_Append(items, item);
            Py_DECREF(item);
            if (added < 0) goto done;
        }
        if (j + 1 == p->n_hits || HIT_WORD(p, j + 1, 0) != tx) Py_CLEAR(items);
    }
    out = PyTuple_Pack(2, held, curve);
done:
    Py_XDECREF(items);
    Py_XDECREF(sum);
    Py_XDECREF(held);
    Py_XDECREF(curve);
    return out;
}

/* undo_hits(undo, scripts) -> (held, curve): the record walked once with the filter
 * (undo_decode, the GIL released), then held_from_packed. */
PyObject *undo_hits(PyObject *module, PyObject *args) {
    (void)module;
    Py_buffer uv;
    PyObject *scripts;
    if (!PyArg_ParseTuple(args, "y*O!", &uv, &FilterType, &scripts)) return NULL;
    UndoDecoded d;
    PyObject *out = NULL;
    if (undo_decode_released(&uv, (const Filter *)scripts, &d) == 0) {
        uint64_t words = undo_packed_words(&d, 1);
        uint8_t *packed = malloc(words * 8);
        if (packed == NULL) {
            PyErr_NoMemory();
        } else {
            undo_pack(&d, 1, packed);
            PackedHits p;
            if (packed_hits_from(packed, (Py_ssize_t)(words * 8), uv.buf, uv.len, &p) == 0)
                out = held_from_packed(&p);
            free(packed);
        }
        undo_free(&d);
    }
    PyBuffer_Release(&uv);
    return out;
}

/* undo_held(packed, undo) -> (held, curve): undo_hits's answer from pack_block_undo(undo,
 * scripts) made before (on the read-ahead thread), without walking the record again. */
PyObject *undo_held(PyObject *module, PyObject *args) {
    (void)module;
    Py_buffer pv, uv;
    if (!PyArg_ParseTuple(args, "y*y*", &pv, &uv)) return NULL;
    PackedHits p;
    PyObject *out = NULL;
    if (packed_hits_from(pv.buf, pv.len, uv.buf, uv.len, &p) == 0) out = held_from_packed(&p);
    PyBuffer_Release(&pv);
    PyBuffer_Release(&uv);
    return out;
}

/* ---------------------------------------------------------------------------------------- */
/* exchange_txs(data, pos, index, n_tx, scripts, exchange_of, held, sums, table=None)         */
/*   -> end of the last transaction; the reference documents every argument and rule.        */

/* One entity's sums over the call so far: added into `sums` at its end, in entity order. */
typedef struct {
    long entity;
    __int128 f[4];
} XAcc;

/* The answers of the call so far, by script: each script is asked once (the reference keeps
 * them in a dict). Open addressing on the script's fingerprint; the scripts are copied into
 * `arena`, as the bytes they are read from may not outlive an answer (a held dict). */
typedef struct {
    uint64_t fp;
    size_t at, len;  /* the script in the arena */
    long exchange;   /* -1: none */
    int used;
} XAnswer;

typedef struct {
    XAnswer *slots;
    size_t cap, n;
    uint8_t *arena;
    size_t arena_len, arena_cap;
} XAsked;

typedef struct {
    PyObject *exchange_of, *held;  /* borrowed; `held` NULL when the hits come packed */
    Filter *scripts;
    XAcc *acc;
    size_t n_acc, cap_acc;
    const PackedHits *packed;
    const uint64_t *first_hit;  /* packed: per entry of the order, where its hits begin */
    XAsked asked;
    /* a transaction's outputs, held inputs and entities: room kept for the whole call */
    void *outs, *ins, *entities;
    size_t outs_cap, ins_cap, entities_cap;
} XStep;

/* `*buf` with room for `n` items of `size` bytes, grown as needed and kept for the call; NULL
 * with MemoryError. `n` is bounded by the bytes it counts, so n * size cannot overflow. */
static void *x_room(void **buf, size_t *cap, size_t n, size_t size) {
    if (*buf == NULL || n > *cap) {  /* none yet (n may be 0), or too little */
        size_t want = n < 16 ? 16 : n;
        void *grown = PyMem_Realloc(*buf, want * size);
        if (grown == NULL) { PyErr_NoMemory(); return NULL; }
        *buf = grown;
        *cap = want;
    }
    return *buf;
}

typedef struct {
    Py_ssize_t script, script_len;
    int64_t value;
    long exchange;  /* -1: pays no exchange */
} XOut;

typedef struct {
    int64_t value;
    long exchange;
} XIn;

/* An exchange id: 1 with it, 0 for None, -1 (the reference's `_exchange`). */
static int x_id(PyObject *o, long *out) {
    if (o == Py_None) return 0;
    if (!PyLong_Check(o)) {
        PyErr_SetString(PyExc_TypeError, "an exchange id is an int or None");
        return -1;
    }
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (v == -1 && PyErr_Occurred()) return -1;
    if (overflow || v < 0 || v >= ALL_EXCHANGES) {
        PyErr_SetString(PyExc_ValueError, "an exchange id is in 0..65534");
        return -1;
    }
    *out = (long)v;
    return 1;
}

static int x_ssize_cmp(const void *a, const void *b) {
    Py_ssize_t x = *(const Py_ssize_t *)a, y = *(const Py_ssize_t *)b;
    return (x > y) - (x < y);
}

/* An exact Python int of a 128-bit one (a call's sums can pass 2**63 over a long block; an
 * age numerator, value x seconds, too). Shared with step.c. */
PyObject *int128_to_py(__int128 v) {
    if (v >= (__int128)LLONG_MIN && v <= (__int128)LLONG_MAX)
        return PyLong_FromLongLong((long long)v);
    int negative = v < 0;
    unsigned __int128 m = negative ? (unsigned __int128)0 - (unsigned __int128)v
                                   : (unsigned __int128)v;
    PyObject *hi = PyLong_FromUnsignedLongLong((unsigned long long)(m >> 64));
    PyObject *lo = PyLong_FromUnsignedLongLong((unsigned long long)m);
    PyObject *shift = PyLong_FromLong(64);
    PyObject *out = NULL;
    if (hi != NULL && lo != NULL && shift != NULL) {
        PyObject *up = PyNumber_Lshift(hi, shift);
        if (up != NULL) {
            PyObject *sum = PyNumber_Or(up, lo);
            Py_DECREF(up);
            out = sum != NULL && negative ? PyNumber_Negative(sum) : Py_XNewRef(sum);
            Py_XDECREF(sum);
        }
    }
    Py_XDECREF(hi);
    Py_XDECREF(lo);
    Py_XDECREF(shift);
    return out;
}

/* sums[entity] += [inflow, outflow, fees, balance]. */
static int x_add(PyObject *sums, long entity, const __int128 f[4]) {
    PyObject *key = PyLong_FromLong(entity);
    if (key == NULL) return -1;
    int rc = -1;
    PyObject *total = PyDict_GetItemWithError(sums, key);
    if (total == NULL) {
        if (PyErr_Occurred()) goto done;
        PyObject *fresh = PyList_New(4);
        if (fresh == NULL) goto done;
        for (Py_ssize_t i = 0; i < 4; i++) {
            PyObject *part = int128_to_py(f[i]);
            if (part == NULL) { Py_DECREF(fresh); goto done; }
            PyList_SET_ITEM(fresh, i, part);
        }
        rc = PyDict_SetItem(sums, key, fresh);
        Py_DECREF(fresh);
        goto done;
    }
    Py_INCREF(total);
    for (Py_ssize_t i = 0; i < 4; i++) {
        /* an addition may run Python code that changes the list: look again each time */
        if (!PyList_CheckExact(total) || PyList_GET_SIZE(total) != 4) {
            PyErr_SetString(PyExc_TypeError, "exchange sums are a list of four");
            Py_DECREF(total);
            goto done;
        }
        PyObject *part = int128_to_py(f[i]);
        if (part == NULL) { Py_DECREF(total); goto done; }
        PyObject *sum = PyNumber_InPlaceAdd(PyList_GET_ITEM(total, i), part);
        Py_DECREF(part);
        if (sum == NULL) { Py_DECREF(total); goto done; }
        if (PyList_GET_SIZE(total) != 4) {
            Py_DECREF(sum);
            PyErr_SetString(PyExc_TypeError, "exchange sums are a list of four");
            Py_DECREF(total);
            goto done;
        }
        if (PyList_SetItem(total, i, sum) < 0) { Py_DECREF(total); goto done; }
    }
    Py_DECREF(total);
    rc = 0;
done:
    Py_DECREF(key);
    return rc;
}

/* st->acc[entity] += f (few entities a block: a linear search). */
static int x_accumulate(XStep *st, long entity, const __int128 f[4]) {
    for (size_t i = 0; i < st->n_acc; i++) {
        if (st->acc[i].entity == entity) {
            for (int k = 0; k < 4; k++) st->acc[i].f[k] += f[k];
            return 0;
        }
    }
    if (st->n_acc == st->cap_acc) {
        size_t cap = st->cap_acc ? 2 * st->cap_acc : 8;
        XAcc *grown = PyMem_Realloc(st->acc, cap * sizeof(XAcc));
        if (grown == NULL) { PyErr_NoMemory(); return -1; }
        st->acc = grown;
        st->cap_acc = cap;
    }
    XAcc *a = &st->acc[st->n_acc++];
    a->entity = entity;
    for (int k = 0; k < 4; k++) a->f[k] = f[k];
    return 0;
}

static int x_acc_cmp(const void *a, const void *b) {
    long x = ((const XAcc *)a)->entity, y = ((const XAcc *)b)->entity;
    return (x > y) - (x < y);
}

/* The call's sums into `sums`, in entity order. */
static int x_merge(XStep *st, PyObject *sums) {
    if (st->n_acc) qsort(st->acc, st->n_acc, sizeof(XAcc), x_acc_cmp);
    for (size_t i = 0; i < st->n_acc; i++)
        if (x_add(sums, st->acc[i].entity, st->acc[i].f) < 0) return -1;
    return 0;
}

/* `held` checked as the reference's `_check_held` checks it: (total, [(input index, script,
 * value), ...]) per transaction index; its indexes, sorted, into `order`. */
static int x_check_held(PyObject *held, Py_ssize_t **order, Py_ssize_t *n_order) {
    Py_ssize_t at = 0, k = 0;
    PyObject *key, *entry;
    *order = PyMem_Calloc((size_t)PyDict_GET_SIZE(held) + 1, sizeof(Py_ssize_t));
    if (*order == NULL) { PyErr_NoMemory(); return -1; }
    while (PyDict_Next(held, &at, &key, &entry)) {
        if (!PyLong_Check(key)) {
            PyErr_SetString(PyExc_TypeError, "held is keyed by transaction index");
            return -1;
        }
        Py_ssize_t tx = PyLong_AsSsize_t(key);
        if (tx == -1 && PyErr_Occurred()) return -1;
        if (!PyTuple_Check(entry) || PyTuple_GET_SIZE(entry) != 2
                || !PyLong_Check(PyTuple_GET_ITEM(entry, 0))
                || !PyList_CheckExact(PyTuple_GET_ITEM(entry, 1))) {
            PyErr_SetString(PyExc_TypeError, "held maps to (total, list)");
            return -1;
        }
        PyObject *items = PyTuple_GET_ITEM(entry, 1);
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(items); i++) {
            PyObject *item = PyList_GET_ITEM(items, i);
            if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 3
                    || !PyLong_Check(PyTuple_GET_ITEM(item, 0))
                    || !PyBytes_Check(PyTuple_GET_ITEM(item, 1))
                    || !PyLong_Check(PyTuple_GET_ITEM(item, 2))) {
                PyErr_SetString(PyExc_TypeError, "a held input is (input index, script, value)");
                return -1;
            }
            if (PyLong_AsSsize_t(PyTuple_GET_ITEM(item, 0)) == -1 && PyErr_Occurred())
                return -1;
        }
        (*order)[k++] = tx;
    }
    qsort(*order, (size_t)k, sizeof(Py_ssize_t), x_ssize_cmp);
    *n_order = k;
    return 0;
}

/* The packed hits' transactions, ascending, into `order`, and where each one's hits begin
 * into `first` (one more entry: the end); ValueError for a hit of an uncompressed key, whose
 * script needs the curve (the caller passes `held` as a dict then). */
static int x_order_packed(const PackedHits *p, Py_ssize_t **order, uint64_t **first,
                          Py_ssize_t *n_order) {
    *order = PyMem_Calloc((size_t)p->n_hits + 1, sizeof(Py_ssize_t));
    *first = PyMem_Calloc((size_t)p->n_hits + 1, sizeof(uint64_t));
    if (*order == NULL || *first == NULL) { PyErr_NoMemory(); return -1; }
    Py_ssize_t k = 0;
    for (uint64_t j = 0; j < p->n_hits; j++) {
        uint64_t kind = HIT_WORD(p, j, 2);
        if (kind == 4 || kind == 5) {
            PyErr_SetString(PyExc_ValueError, "an uncompressed key's hit needs held as a dict");
            return -1;
        }
        uint64_t tx = HIT_WORD(p, j, 0);  /* <= n_tx, which the packed words' length bounds */
        if (k == 0 || (uint64_t)(*order)[k - 1] != tx) {
            (*order)[k] = (Py_ssize_t)tx;
            (*first)[k++] = j;
        }
    }
    (*first)[k] = p->n_hits;
    *n_order = k;
    return 0;
}

/* The entry of the order at `oi` when it is transaction `index`'s, else -1. */
static inline Py_ssize_t order_slot(const Py_ssize_t *order, Py_ssize_t n_order, Py_ssize_t oi,
                                    Py_ssize_t index) {
    return oi < n_order && order[oi] == index ? oi : -1;
}

/* Where the probes for `fp` start in `cap` (a power of two) slots. */
static inline size_t asked_home(uint64_t fp, size_t cap) {
    return (size_t)((fp * 0x9E3779B97F4A7C15ULL) >> 32) & (cap - 1);
}

static void asked_free(XAsked *a) {
    PyMem_Free(a->slots);
    PyMem_Free(a->arena);
    *a = (XAsked){0};
}

/* The slot of `script`: its answer, or the empty one it would take. */
static XAnswer *asked_slot(const XAsked *a, uint64_t fp, const uint8_t *script, size_t len) {
    size_t mask = a->cap - 1;
    for (size_t i = asked_home(fp, a->cap);; i = (i + 1) & mask) {
        XAnswer *slot = &a->slots[i];
        if (!slot->used || (slot->fp == fp && slot->len == len
                            && (len == 0 || memcmp(a->arena + slot->at, script, len) == 0)))
            return slot;
    }
}

/* Keep an answer; -1 (no memory) with the error set. */
static int asked_put(XAsked *a, uint64_t fp, const uint8_t *script, size_t len, long exchange) {
    if (2 * (a->n + 1) > a->cap) {  /* at most half full: probes stay short */
        size_t cap = a->cap ? 2 * a->cap : 64;
        XAnswer *grown = PyMem_Calloc(cap, sizeof(XAnswer));
        if (grown == NULL) { PyErr_NoMemory(); return -1; }
        for (size_t i = 0; i < a->cap; i++) {
            XAnswer *old = &a->slots[i];
            if (!old->used) continue;
            size_t j = asked_home(old->fp, cap);
            while (grown[j].used) j = (j + 1) & (cap - 1);  /* the answers are distinct scripts */
            grown[j] = *old;
        }
        PyMem_Free(a->slots);
        a->slots = grown;
        a->cap = cap;
    }
    if (len > a->arena_cap - a->arena_len) {
        size_t cap = a->arena_cap ? a->arena_cap : 4096;
        while (len > cap - a->arena_len) {
            if (cap > PY_SSIZE_T_MAX / 2) { PyErr_NoMemory(); return -1; }
            cap *= 2;
        }
        uint8_t *grown = PyMem_Realloc(a->arena, cap);
        if (grown == NULL) { PyErr_NoMemory(); return -1; }
        a->arena = grown;
        a->arena_cap = cap;
    }
    if (len) memcpy(a->arena + a->arena_len, script, len);  /* an empty script: no arena yet */
    *asked_slot(a, fp, script, len) = (XAnswer){fp, a->arena_len, len, exchange, 1};
    a->arena_len += len;
    a->n++;
    return 0;
}

/* An exchange's id of a script (1), none (0), or -1 with the error set: asked of
 * `exchange_of` (with `obj`, the script as bytes, when the caller has it) the first time the
 * call needs it, then answered from `asked`. */
static int x_ask_with(XStep *st, const uint8_t *script, Py_ssize_t len, PyObject *obj,
                      long *exchange) {
    uint64_t fp = member_fp(script, len);
    if (st->asked.cap) {
        XAnswer *known = asked_slot(&st->asked, fp, script, (size_t)len);
        if (known->used) {
            *exchange = known->exchange;
            return known->exchange >= 0;
        }
    }
    PyObject *bytes = obj != NULL ? Py_NewRef(obj)
                                  : PyBytes_FromStringAndSize((const char *)script, len);
    if (bytes == NULL) return -1;
    PyObject *found = PyObject_CallOneArg(st->exchange_of, bytes);
    Py_DECREF(bytes);
    if (found == NULL) return -1;
    int is = x_id(found, exchange);
    Py_DECREF(found);
    if (is < 0) return -1;
    if (asked_put(&st->asked, fp, script, (size_t)len, is ? *exchange : -1) < 0) return -1;
    return is;
}

static int x_ask(XStep *st, const uint8_t *script, Py_ssize_t len, long *exchange) {
    return x_ask_with(st, script, len, NULL, exchange);
}

/* The held inputs of transaction `index` (of `n_in` inputs): those whose script an exchange
 * holds, asked in list order, into *ins (a new array, or NULL when it has none listed), *n_held
 * of them; what all its inputs spend into *total. `slot`: its entry in the order of the packed
 * hits' transactions, or -1. The reference's `listed` part of `_exchange_tx`, from `held` as a
 * dict (looked up for every transaction decoded, as the reference does) or from packed hits.
 * 0, or -1 with the error set. */
static int held_inputs(XStep *st, Py_ssize_t index, Py_ssize_t slot, uint64_t n_in, XIn **ins,
                       Py_ssize_t *n_held, int64_t *total) {
    PyObject *listed = NULL;
    *ins = NULL;
    if (st->packed != NULL) {
        if (slot < 0) return 0;
        const PackedHits *p = st->packed;
        uint64_t first = st->first_hit[slot], end = st->first_hit[slot + 1];
        __int128 all = hit_tx_total(p, first);
        if (all > (__int128)MAX_MONEY) {
            PyErr_Format(PyExc_ValueError, "transaction %zd: the spent total outside "
                         "0..21,000,000 BTC", index);
            return -1;
        }
        *total = (int64_t)all;
        *ins = x_room(&st->ins, &st->ins_cap, (size_t)(end - first), sizeof(XIn));
        if (*ins == NULL) return -1;
        for (uint64_t j = first; j < end; j++) {
            uint64_t at = HIT_WORD(p, j, 1);
            if (at >= n_in) {
                PyErr_Format(PyExc_ValueError, "transaction %zd: held input %llu is not one of "
                             "its %llu", index, (unsigned long long)at, (unsigned long long)n_in);
                return -1;
            }
            uint8_t s[35];
            Py_ssize_t m;
            const uint8_t *script = hit_script(p, j, s, &m);
            long exchange;
            int is = x_ask(st, script, m, &exchange);
            if (is < 0) return -1;
            uint64_t value = hit_value(p, j);
            if (is && value > MAX_MONEY) {
                PyErr_Format(PyExc_ValueError, "transaction %zd: a spent value outside "
                             "0..21,000,000 BTC", index);
                return -1;
            }
            if (is) (*ins)[(*n_held)++] = (XIn){(int64_t)value, exchange};
        }
        return 0;
    }
    PyObject *key = PyLong_FromSsize_t(index);
    if (key == NULL) return -1;
    listed = PyDict_GetItemWithError(st->held, key);
    Py_DECREF(key);
    if (listed == NULL) return PyErr_Occurred() ? -1 : 0;
    /* (total, [(input, script, value), ...]), its shape checked before the walk */
    Py_INCREF(listed);
    if (money_from(PyTuple_GET_ITEM(listed, 0), total, "the spent total", index) < 0)
        goto fail;
    PyObject *items = PyTuple_GET_ITEM(listed, 1);
    Py_ssize_t n_listed = PyList_GET_SIZE(items);
    *ins = x_room(&st->ins, &st->ins_cap, (size_t)n_listed, sizeof(XIn));
    if (*ins == NULL) goto fail;
    for (Py_ssize_t i = 0; i < n_listed && i < PyList_GET_SIZE(items); i++) {
        PyObject *item = Py_NewRef(PyList_GET_ITEM(items, i));
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 3) {  /* changed meanwhile */
            Py_DECREF(item);
            PyErr_SetString(PyExc_TypeError, "a held input is (input index, script, value)");
            goto fail;
        }
        Py_ssize_t at = PyLong_AsSsize_t(PyTuple_GET_ITEM(item, 0));
        if (at < 0 || (uint64_t)at >= n_in) {
            Py_DECREF(item);
            if (!PyErr_Occurred())
                PyErr_Format(PyExc_ValueError, "transaction %zd: held input %zd is not one of "
                             "its %llu", index, at, (unsigned long long)n_in);
            goto fail;
        }
        PyObject *script = PyTuple_GET_ITEM(item, 1);
        if (!PyBytes_Check(script)) {  /* changed meanwhile */
            Py_DECREF(item);
            PyErr_SetString(PyExc_TypeError, "a held input is (input index, script, value)");
            goto fail;
        }
        long exchange;
        int is = x_ask_with(st, (const uint8_t *)PyBytes_AS_STRING(script),
                            PyBytes_GET_SIZE(script), script, &exchange);
        int64_t value = 0;
        if (is > 0 && money_from(PyTuple_GET_ITEM(item, 2), &value, "a spent value", index) < 0)
            is = -1;
        Py_DECREF(item);
        if (is < 0) goto fail;
        if (is) (*ins)[(*n_held)++] = (XIn){value, exchange};
    }
    Py_DECREF(listed);
    return 0;
fail:
    Py_DECREF(listed);
    return -1;
}

/* One decoded transaction through SPEC 5.1 (the reference's `_exchange_tx`); `slot`, its
 * entry in the order of the held transactions, or -1. */
static int exchange_tx(XStep *st, Cursor *c, Py_ssize_t index, Py_ssize_t slot) {
    XIn *ins = NULL;
    XOut *outs = NULL;
    long *entities = NULL;
    uint64_t n_in = 0, n_out = 0;
    Py_ssize_t n_held = 0;
    int rc = -1;

    if (!need(c, 6)) goto malformed;
    c->p += 4;
    int segwit = c->d[c->p] == 0 && c->d[c->p + 1] != 0;
    if (segwit) c->p += 2;
    n_in = compact_size(c);
    if (c->bad || n_in > (uint64_t)(c->n - c->p) / 41) goto malformed;
    for (uint64_t i = 0; i < n_in && !c->bad; i++) {
        if (!need(c, 36)) break;
        c->p += 36;
        skip(c, compact_size(c));
        skip(c, 4);
    }
    n_out = c->bad ? 0 : compact_size(c);
    if (c->bad || n_out > (uint64_t)(c->n - c->p) / 9) goto malformed;
    outs = x_room(&st->outs, &st->outs_cap, (size_t)n_out, sizeof(XOut));
    if (outs == NULL) goto fail;
    for (uint64_t i = 0; i < n_out && !c->bad; i++) {
        if (!need(c, 8)) break;
        outs[i].value = (int64_t)le_u64(c->d + c->p, 8);
        outs[i].exchange = -1;
        c->p += 8;
        uint64_t len = compact_size(c);
        if (c->bad || len > (uint64_t)PY_SSIZE_T_MAX || !need(c, (Py_ssize_t)len)) {
            c->bad = 1;
            break;
        }
        outs[i].script = c->p;
        outs[i].script_len = (Py_ssize_t)len;
        c->p += (Py_ssize_t)len;
    }
    if (segwit) {
        for (uint64_t i = 0; i < n_in && !c->bad; i++) {
            uint64_t items = compact_size(c);
            for (uint64_t j = 0; j < items && !c->bad; j++) skip(c, compact_size(c));
        }
    }
    skip(c, 4);
    if (c->bad) goto malformed;

    /* values: each, then the total, in 0..MAX_MONEY */
    __int128 out_total = 0;
    for (uint64_t i = 0; i < n_out; i++) {
        if (outs[i].value < 0 || (uint64_t)outs[i].value > MAX_MONEY) {
            PyErr_Format(PyExc_ValueError, "transaction %zd: an output value outside "
                         "0..21,000,000 BTC", index);
            goto fail;
        }
        out_total += outs[i].value;
    }
    if (out_total > (__int128)MAX_MONEY) {
        PyErr_Format(PyExc_ValueError, "transaction %zd: the output total outside "
                     "0..21,000,000 BTC", index);
        goto fail;
    }

    /* the held inputs (their exchanges asked in list order), then the exchanges paid */
    int64_t listed_total = 0;
    if (held_inputs(st, index, slot, n_in, &ins, &n_held, &listed_total) < 0) goto fail;
    int any_paid = 0;
    for (uint64_t i = 0; i < n_out; i++) {
        if (!filter_has(st->scripts, member_fp(c->d + outs[i].script, outs[i].script_len)))
            continue;
        int is = x_ask(st, c->d + outs[i].script, outs[i].script_len, &outs[i].exchange);
        if (is < 0) goto fail;
        if (!is) outs[i].exchange = -1;
        any_paid |= is;
    }
    if (!n_held && !any_paid) { rc = 0; goto fail; }

    /* what went in: all inputs, and the held ones */
    __int128 total_in = 0, held_all = 0;
    if (n_held) {
        total_in = listed_total;
        for (Py_ssize_t i = 0; i < n_held; i++) held_all += ins[i].value;
        if (held_all > total_in) {
            PyErr_Format(PyExc_ValueError, "transaction %zd: its exchange inputs spend more "
                         "than all its inputs", index);
            goto fail;
        }
    }
    __int128 fee = total_in - out_total;

    /* the entities, ascending: every exchange it spends from or pays, and ALL */
    entities = x_room(&st->entities, &st->entities_cap, (size_t)n_held + (size_t)n_out + 1,
                      sizeof(long));
    if (entities == NULL) goto fail;
    size_t n_entities = 0;
    for (Py_ssize_t i = 0; i < n_held; i++) entities[n_entities++] = ins[i].exchange;
    for (uint64_t i = 0; i < n_out; i++)
        if (outs[i].exchange >= 0) entities[n_entities++] = outs[i].exchange;
    entities[n_entities++] = ALL_EXCHANGES;
    if (n_entities > 24) {
        qsort(entities, n_entities, sizeof(long), long_cmp);
    } else {  /* few: an insertion sort, no call per comparison */
        for (size_t i = 1; i < n_entities; i++) {
            long e = entities[i];
            size_t j = i;
            for (; j > 0 && entities[j - 1] > e; j--) entities[j] = entities[j - 1];
            entities[j] = e;
        }
    }

    for (size_t k = 0; k < n_entities; k++) {
        if (k > 0 && entities[k] == entities[k - 1]) continue;
        long entity = entities[k];
        __int128 mine = 0;
        for (Py_ssize_t i = 0; i < n_held; i++)
            if (entity == ALL_EXCHANGES || ins[i].exchange == entity) mine += ins[i].value;
        __int128 f[4] = {0, 0, 0, -mine};  /* inflow, outflow, fees, balance */
        for (uint64_t i = 0; i < n_out; i++) {
            __int128 value = outs[i].value;
            __int128 share = mine ? floor_div(value * mine, total_in) : 0;
            if (outs[i].exchange >= 0
                    && (outs[i].exchange == entity || entity == ALL_EXCHANGES)) {
                f[0] += value - share;
                f[3] += value;
            } else {
                f[1] += share;
            }
        }
        if (mine) f[2] = floor_div(fee * mine, total_in);
        if (!f[0] && !f[1] && !f[2] && !f[3]) continue;
        if (x_accumulate(st, entity, f) < 0) goto fail;
    }
    rc = 0;
    goto fail;

malformed:
    PyErr_Format(PyExc_ValueError, "transaction %zd runs past the end of the data", index);
fail:
    return rc;
}

PyObject *exchange_txs(PyObject *module, PyObject *args) {
    (void)module;
    Py_buffer view;
    Py_ssize_t pos, index, n_tx;
    PyObject *scripts_obj, *exchange_of, *held, *sums;
    PyObject *table_obj = Py_None;
    if (!PyArg_ParseTuple(args, "y*nnnO!OOO|O", &view, &pos, &index, &n_tx, &FilterType,
                          &scripts_obj, &exchange_of, &held, &sums, &table_obj))
        return NULL;
    PyObject *result = NULL, *nothing = NULL;
    XStep st = {0};
    Py_buffer table_view = {0};
    ScanTable table = {0};
    Py_ssize_t *order = NULL, n_order = 0, oi = 0;
    Py_buffer packed_view = {0}, undo_view = {0};
    PackedHits packed;
    uint64_t *first_hit = NULL;
    if (PyTuple_Check(held)) {  /* (packed, undo): the hits packed with the spent values */
        if (PyTuple_GET_SIZE(held) != 2) {
            PyErr_SetString(PyExc_TypeError, "held is a dict or (packed, undo)");
            goto done;
        }
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(held, 0), &packed_view, PyBUF_SIMPLE) < 0
                || PyObject_GetBuffer(PyTuple_GET_ITEM(held, 1), &undo_view, PyBUF_SIMPLE) < 0)
            goto done;
        if (packed_hits_from(packed_view.buf, packed_view.len, undo_view.buf, undo_view.len,
                             &packed) < 0
                || x_order_packed(&packed, &order, &first_hit, &n_order) < 0)
            goto done;
    } else if (!PyDict_CheckExact(held)) {
        PyErr_SetString(PyExc_TypeError, "held is a dict or (packed, undo)");
        goto done;
    } else if (x_check_held(held, &order, &n_order) < 0) {
        goto done;
    }
    if (!PyDict_CheckExact(sums)) {
        PyErr_SetString(PyExc_TypeError, "sums is a dict");
        goto done;
    }
    st = (XStep){exchange_of, held, (Filter *)scripts_obj, NULL, 0, 0,
                 first_hit != NULL ? &packed : NULL, first_hit, (XAsked){0},
                 NULL, NULL, NULL, 0, 0, 0};
    nothing = PyObject_CallNoArgs((PyObject *)&FilterType);  /* no coin is followed */
    if (nothing == NULL) goto done;
    const Filter *none = (const Filter *)nothing;
    if (!scan_args_ok(pos, index, n_tx, view.len)) goto done;
    /* `held`, `sums` and the callables live as long as `args`; `order` is a copy */
    Cursor c = {view.buf, view.len, pos, 0};
    if (table_obj != Py_None) {
        if (PyObject_GetBuffer(table_obj, &table_view, PyBUF_SIMPLE) < 0) goto done;
        if (table_from(&table_view, view.len, pos, index, n_tx, &table) < 0) goto done;
        Py_ssize_t k = (Py_ssize_t)table.k, pending = -1;
        for (;;) {
            if (pending < index) {  /* the next output hit from here: probes only */
                Py_ssize_t probe = index, hit;
                Py_BEGIN_ALLOW_THREADS
                hit = table_scan(&table, &probe, none, st.scripts);
                Py_END_ALLOW_THREADS
                pending = hit < 0 ? k : hit;
            }
            while (oi < n_order && order[oi] < index) oi++;
            Py_ssize_t held_next = oi < n_order && order[oi] < k ? order[oi] : k;
            Py_ssize_t next = pending < held_next ? pending : held_next;
            if (next >= k) break;
            index = next;
            c.p = (Py_ssize_t)TABLE_WORD(table.starts, index);
            if (exchange_tx(&st, &c, index, order_slot(order, n_order, oi, index)) < 0)
                goto done;
            if ((uint64_t)c.p != TABLE_WORD(table.starts, index + 1)) {
                PyErr_SetString(PyExc_ValueError, "the scan table does not match the block");
                goto done;
            }
            index++;
        }
        if (table.bad) {
            PyErr_Format(PyExc_ValueError, "transaction %zd runs past the end of the data", k);
            goto done;
        }
        if (x_merge(&st, sums) < 0) goto done;
        result = PyLong_FromSsize_t((Py_ssize_t)TABLE_WORD(table.starts, k));
        goto done;
    }
    for (;;) {
        while (oi < n_order && order[oi] < index) oi++;
        Py_ssize_t limit = oi < n_order && order[oi] < n_tx ? order[oi] : n_tx;
        Py_ssize_t hit;
        /* the walk reads only the bytes and the filters */
        Py_BEGIN_ALLOW_THREADS
        hit = scan_from(&c, &index, limit, none, st.scripts);
        Py_END_ALLOW_THREADS
        if (c.bad) {
            PyErr_Format(PyExc_ValueError, "transaction %zd runs past the end of the data", index);
            goto done;
        }
        if (hit >= 0) c.p = hit;
        else if (index >= n_tx) break;
        if (exchange_tx(&st, &c, index, order_slot(order, n_order, oi, index)) < 0) goto done;
        index++;
    }
    if (x_merge(&st, sums) < 0) goto done;
    result = PyLong_FromSsize_t(c.p);
done:
    PyMem_Free(st.acc);
    asked_free(&st.asked);
    PyMem_Free(st.outs);
    PyMem_Free(st.ins);
    PyMem_Free(st.entities);
    Py_XDECREF(nothing);
    PyMem_Free(order);
    PyMem_Free(first_hit);
    if (packed_view.obj != NULL) PyBuffer_Release(&packed_view);
    if (undo_view.obj != NULL) PyBuffer_Release(&undo_view);
    if (table_view.obj != NULL) PyBuffer_Release(&table_view);
    PyBuffer_Release(&view);
    return result;
}
