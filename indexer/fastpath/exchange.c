/* undo_hits and exchange_txs: SPEC 5.1 over a block's transactions, the spent scripts read
 * from the block's undo record. Twin: exchange.py. */
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

/* One spent output of an undo record, as the walk found it. */
typedef struct {
    uint64_t fp, value, tx, input, kind;
    Py_ssize_t body, len;  /* where its compressed script lies in the record */
    int hit;
} UndoSpent;

/* The record walked whole without the GIL: every spent output and each transaction's total
 * (by `tx` - 1); NULL (the reason in *why, or no memory) when it does not decode. */
static UndoSpent *undo_walk(Cursor *u, size_t *n_spent, __int128 **totals, size_t *n_totals,
                            const char **why) {
    size_t cap = 64, n = 0, cap_t = 16, n_t = 0;
    UndoSpent *spent = malloc(cap * sizeof(UndoSpent));
    __int128 *sums = malloc(cap_t * sizeof(__int128));
    if (spent == NULL || sums == NULL) goto fail;
    uint64_t n_tx = compact_size(u);
    if (u->bad) { *why = "undo record runs past its end"; goto fail; }
    for (uint64_t tx = 1; tx <= n_tx; tx++) {
        uint64_t n_in = compact_size(u);
        if (u->bad) { *why = "undo record runs past its end"; goto fail; }
        __int128 total = 0;
        for (uint64_t i = 0; i < n_in; i++) {
            uint64_t code = core_varint(u);
            if (code >> 1) core_varint(u);
            uint64_t value = decompress_amount(u, core_varint(u));
            uint64_t kind = core_varint(u);
            if (u->bad) { *why = "undo record runs past its end"; goto fail; }
            uint64_t len = kind < 6 ? (kind < 2 ? 20 : 32) : kind - 6;
            if (len > (uint64_t)PY_SSIZE_T_MAX || !need(u, (Py_ssize_t)len)) {
                *why = "undo record runs past its end";
                goto fail;
            }
            if (n == cap) {
                UndoSpent *grown = realloc(spent, 2 * cap * sizeof(UndoSpent));
                if (grown == NULL) goto fail;
                spent = grown;
                cap *= 2;
            }
            UndoSpent *o = &spent[n++];
            *o = (UndoSpent){0, value, tx, i, kind, u->p, (Py_ssize_t)len, 0};
            if (kind != 4 && kind != 5) {
                uint8_t s[35];
                Py_ssize_t m;
                const uint8_t *script = undo_script(kind, u->d + u->p, (Py_ssize_t)len, s, &m);
                o->fp = member_fp(script, m);
            }
            u->p += (Py_ssize_t)len;
            total += value;
        }
        if (n_t == cap_t) {
            __int128 *grown = realloc(sums, 2 * cap_t * sizeof(__int128));
            if (grown == NULL) goto fail;
            sums = grown;
            cap_t *= 2;
        }
        sums[n_t++] = total;
    }
    if (u->p != u->n) {
        *why = "undo record holds bytes after its last entry";
        goto fail;
    }
    *n_spent = n;
    *totals = sums;
    *n_totals = n_t;
    return spent;
fail:
    free(spent);
    free(sums);
    return NULL;
}

PyObject *undo_hits(PyObject *module, PyObject *args) {
    (void)module;
    Py_buffer uv;
    PyObject *scripts_obj;
    if (!PyArg_ParseTuple(args, "y*O!", &uv, &FilterType, &scripts_obj)) return NULL;
    const Filter *scripts = (const Filter *)scripts_obj;
    Cursor u = {uv.buf, uv.len, 0, 0};
    const char *why = NULL;
    size_t n = 0, n_totals = 0;
    __int128 *totals = NULL;
    UndoSpent *spent;
    /* the walk and the probes read only the record and the filter, which no thread changes
     * while blocks are applied: other threads run meanwhile */
    Py_BEGIN_ALLOW_THREADS
    spent = undo_walk(&u, &n, &totals, &n_totals, &why);
    for (size_t j = 0; spent != NULL && j < n; j++) {
        if (j + 16 < n) filter_prefetch(scripts, spent[j + 16].fp);
        uint64_t kind = spent[j].kind;
        spent[j].hit = kind == 4 || kind == 5 ? 2 : filter_has(scripts, spent[j].fp);
    }
    Py_END_ALLOW_THREADS
    PyObject *held = NULL, *curve = NULL, *out = NULL, *hits = NULL, *sum = NULL;
    if (spent == NULL) {
        if (why == NULL) PyErr_NoMemory();
        goto done;
    }
    held = PyDict_New();
    curve = PyList_New(0);
    if (held == NULL || curve == NULL) goto done;
    for (size_t j = 0; j < n; j++) {
        UndoSpent *o = &spent[j];
        if (!o->hit) continue;
        if (sum == NULL && (sum = int128_to_py(totals[o->tx - 1])) == NULL) goto done;
        PyObject *item;
        if (o->hit == 2) {  /* an uncompressed key: the caller rebuilds it on the curve */
            item = Py_BuildValue("(KKKy#KO)", (unsigned long long)o->tx,
                                 (unsigned long long)o->input, (unsigned long long)o->kind,
                                 (const char *)u.d + o->body, o->len,
                                 (unsigned long long)o->value, sum);
            if (item == NULL || PyList_Append(curve, item) < 0) { Py_XDECREF(item); goto done; }
            Py_DECREF(item);
        } else {
            uint8_t s[35];
            Py_ssize_t m;
            const uint8_t *script = undo_script(o->kind, u.d + o->body, o->len, s, &m);
            item = Py_BuildValue("(Ky#K)", (unsigned long long)o->input, (const char *)script,
                                 m, (unsigned long long)o->value);
            if (item == NULL) goto done;
            if (hits == NULL && (hits = PyList_New(0)) == NULL) { Py_DECREF(item); goto done; }
            int added = PyList_Append(hits, item);
            Py_DECREF(item);
            if (added < 0) goto done;
        }
        int last = 1;  /* the transaction's last hit: its entry is complete */
        for (size_t k = j + 1; k < n && spent[k].tx == o->tx; k++)
            if (spent[k].hit) { last = 0; break; }
        if (!last) continue;
        if (hits != NULL) {
            PyObject *key = PyLong_FromUnsignedLongLong(o->tx);
            PyObject *entry = key ? PyTuple_Pack(2, sum, hits) : NULL;
            int failed = entry == NULL || PyDict_SetItem(held, key, entry) < 0;
            Py_XDECREF(entry);
            Py_XDECREF(key);
            Py_CLEAR(hits);
            if (failed) goto done;
        }
        Py_CLEAR(sum);
    }
    out = PyTuple_Pack(2, held, curve);
done:
    free(spent);
    free(totals);
    PyBuffer_Release(&uv);
    Py_XDECREF(hits);
    Py_XDECREF(sum);
    Py_XDECREF(held);
    Py_XDECREF(curve);
    if (why != NULL) {
        Py_XDECREF(out);
        PyErr_SetString(PyExc_ValueError, why);
        return NULL;
    }
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

typedef struct {
    PyObject *exchange_of, *held;  /* borrowed */
    Filter *scripts;
    XAcc *acc;
    size_t n_acc, cap_acc;
} XStep;

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

/* One decoded transaction through SPEC 5.1 (the reference's `_exchange_tx`). */
static int exchange_tx(XStep *st, Cursor *c, Py_ssize_t index) {
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
    outs = PyMem_Calloc((size_t)n_out + 1, sizeof(XOut));
    if (outs == NULL) { PyErr_NoMemory(); goto fail; }
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
    PyObject *key = PyLong_FromSsize_t(index);
    if (key == NULL) goto fail;
    PyObject *listed = PyDict_GetItemWithError(st->held, key);
    Py_DECREF(key);
    if (listed == NULL && PyErr_Occurred()) goto fail;
    int64_t listed_total = 0;
    if (listed != NULL) {  /* (total, [(input, script, value), ...]), its shape checked */
        Py_INCREF(listed);
        if (money_from(PyTuple_GET_ITEM(listed, 0), &listed_total, "the spent total", index) < 0) {
            Py_DECREF(listed);
            goto fail;
        }
        PyObject *items = PyTuple_GET_ITEM(listed, 1);
        Py_ssize_t n_listed = PyList_GET_SIZE(items);
        ins = PyMem_Calloc((size_t)n_listed + 1, sizeof(XIn));
        if (ins == NULL) { Py_DECREF(listed); PyErr_NoMemory(); goto fail; }
        for (Py_ssize_t i = 0; i < n_listed && i < PyList_GET_SIZE(items); i++) {
            PyObject *item = Py_NewRef(PyList_GET_ITEM(items, i));
            Py_ssize_t at = PyLong_AsSsize_t(PyTuple_GET_ITEM(item, 0));
            if (at < 0 || (uint64_t)at >= n_in) {
                Py_DECREF(item);
                Py_DECREF(listed);
                PyErr_Format(PyExc_ValueError, "transaction %zd: held input %zd is not one of "
                             "its %llu", index, at, (unsigned long long)n_in);
                goto fail;
            }
            PyObject *found = PyObject_CallOneArg(st->exchange_of, PyTuple_GET_ITEM(item, 1));
            if (found == NULL) { Py_DECREF(item); Py_DECREF(listed); goto fail; }
            long exchange;
            int is = x_id(found, &exchange);
            Py_DECREF(found);
            int64_t value = 0;
            if (is > 0 && money_from(PyTuple_GET_ITEM(item, 2), &value, "a spent value", index) < 0)
                is = -1;
            Py_DECREF(item);
            if (is < 0) { Py_DECREF(listed); goto fail; }
            if (is) ins[n_held++] = (XIn){value, exchange};
        }
        Py_DECREF(listed);
    }
    int any_paid = 0;
    for (uint64_t i = 0; i < n_out; i++) {
        if (!filter_has(st->scripts, member_fp(c->d + outs[i].script, outs[i].script_len)))
            continue;
        PyObject *script = PyBytes_FromStringAndSize((const char *)c->d + outs[i].script,
                                                     outs[i].script_len);
        if (script == NULL) goto fail;
        PyObject *found = PyObject_CallOneArg(st->exchange_of, script);
        Py_DECREF(script);
        if (found == NULL) goto fail;
        int is = x_id(found, &outs[i].exchange);
        Py_DECREF(found);
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
    entities = PyMem_Calloc((size_t)n_held + (size_t)n_out + 2, sizeof(long));
    if (entities == NULL) { PyErr_NoMemory(); goto fail; }
    size_t n_entities = 0;
    for (Py_ssize_t i = 0; i < n_held; i++) entities[n_entities++] = ins[i].exchange;
    for (uint64_t i = 0; i < n_out; i++)
        if (outs[i].exchange >= 0) entities[n_entities++] = outs[i].exchange;
    entities[n_entities++] = ALL_EXCHANGES;
    qsort(entities, n_entities, sizeof(long), long_cmp);

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
    PyMem_Free(outs);
    PyMem_Free(ins);
    PyMem_Free(entities);
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
    if (!PyDict_CheckExact(held)) {
        PyErr_SetString(PyExc_TypeError, "held is a dict");
        goto done;
    }
    if (x_check_held(held, &order, &n_order) < 0) goto done;
    if (!PyDict_CheckExact(sums)) {
        PyErr_SetString(PyExc_TypeError, "sums is a dict");
        goto done;
    }
    st = (XStep){exchange_of, held, (Filter *)scripts_obj, NULL, 0, 0};
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
            if (exchange_tx(&st, &c, index) < 0) goto done;
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
        if (exchange_tx(&st, &c, index) < 0) goto done;
        index++;
    }
    if (x_merge(&st, sums) < 0) goto done;
    result = PyLong_FromSsize_t(c.p);
done:
    PyMem_Free(st.acc);
    Py_XDECREF(nothing);
    PyMem_Free(order);
    if (table_view.obj != NULL) PyBuffer_Release(&table_view);
    PyBuffer_Release(&view);
    return result;
}
