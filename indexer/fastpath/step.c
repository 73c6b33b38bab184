/* step_txs: SPEC 5 over a block's transactions after the coinbase. Twin: step.py. */
#include "core.h"

/* ---------------------------------------------------------------------------------------- */
/* step_txs(data, pos, index, n_tx, coins, members, view, exchanges, spent_values, state,    */
/*          table=None) -> end of the last transaction. SPEC 5 over a block's transactions    */
/*   after the coinbase; the reference's `step_txs` documents the arguments and every rule.    */

typedef struct {
    Py_ssize_t script, script_len;
    int64_t value;
    PyObject *script_obj;   /* made on first need */
    PyObject *exchange;     /* the exchange's name (a strong reference), or NULL */
    int exchange_known;
    int member_known, is_member;
    long member_entity, member_cohort;
    int made;               /* a tracked coin is created at this output */
    long made_entity, made_level;
} StepOut;

typedef struct {
    int tracked;
    long entity, level;
    int64_t value;
    int64_t time;           /* the chain time of the block that made the coin */
} StepIn;

typedef struct {
    PyObject *joined, *created, *spent, *sums, *tx_flows;  /* borrowed from `state` */
    PyObject *stored_coin, *stored_member, *exchanges, *spent_values;
    Filter *coins, *members;
    const uint8_t *d;
    Filter *exchange_filter;    /* with exchange_lookup: `exchanges` given as (filter, lookup) */
    PyObject *exchange_lookup;  /* borrowed; NULL when `exchanges` is an exact dict */
    int64_t time;               /* the block's chain time */
} Step;

/* 0 <= value <= MAX_MONEY, else ValueError naming `what` (TypeError when not an int). */
int money_from(PyObject *o, int64_t *out, const char *what, Py_ssize_t index) {
    if (!PyLong_Check(o)) {
        PyErr_Format(PyExc_TypeError, "transaction %zd: %s is an int", index, what);
        return -1;
    }
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (v == -1 && PyErr_Occurred()) return -1;
    if (overflow || v < 0 || (unsigned long long)v > MAX_MONEY) {
        PyErr_Format(PyExc_ValueError, "transaction %zd: %s outside 0..21,000,000 BTC", index,
                     what);
        return -1;
    }
    *out = (int64_t)v;
    return 0;
}

/* An (entity, level) pair of ints, in range: the reference's `_entity`. */
static int entity_from(PyObject *e, PyObject *l, long *entity, long *level) {
    if (!PyLong_Check(e) || !PyLong_Check(l)) {
        PyErr_SetString(PyExc_TypeError, "entity and level are ints");
        return -1;
    }
    int o1 = 0, o2 = 0;
    long long ev = PyLong_AsLongLongAndOverflow(e, &o1);
    if (ev == -1 && PyErr_Occurred()) return -1;
    long long lv = PyLong_AsLongLongAndOverflow(l, &o2);
    if (lv == -1 && PyErr_Occurred()) return -1;
    if (o1 || o2 || ev < 0 || ev > 0xFFFF || (lv != 0 && lv != 1)) {
        PyErr_SetString(PyExc_ValueError, "entity or level out of range");
        return -1;
    }
    *entity = (long)ev;
    *level = (long)lv;
    return 0;
}

/* A chain time: an int in 0..2**32 - 1 (the reference's `_time`). */
static int time_from(PyObject *o, int64_t *out) {
    if (!PyLong_Check(o)) {
        PyErr_SetString(PyExc_TypeError, "a chain time is an int");
        return -1;
    }
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (v == -1 && PyErr_Occurred()) return -1;
    if (overflow || v < 0 || v > 0xFFFFFFFFLL) {
        PyErr_SetString(PyExc_ValueError, "chain time outside 0..2**32 - 1");
        return -1;
    }
    *out = (int64_t)v;
    return 0;
}

/* A coin as given by the view or the state, checked: 1 with its parts, 0 for None, -1. */
static int coin_from(PyObject *o, StepIn *in, Py_ssize_t index) {
    if (o == Py_None) return 0;
    if (!PyTuple_Check(o) || PyTuple_GET_SIZE(o) != 4) {
        PyErr_SetString(PyExc_TypeError, "a coin is an (entity, level, value, time) tuple");
        return -1;
    }
    if (entity_from(PyTuple_GET_ITEM(o, 0), PyTuple_GET_ITEM(o, 1), &in->entity,
                    &in->level) < 0)
        return -1;
    if (money_from(PyTuple_GET_ITEM(o, 2), &in->value, "a tracked coin's value", index) < 0)
        return -1;
    if (time_from(PyTuple_GET_ITEM(o, 3), &in->time) < 0) return -1;
    return 1;
}

static int member_from(PyObject *o, long *entity, long *cohort) {
    if (o == Py_None) return 0;
    if (!PyTuple_Check(o) || PyTuple_GET_SIZE(o) != 2) {
        PyErr_SetString(PyExc_TypeError, "a membership is an (entity, cohort) tuple");
        return -1;
    }
    if (entity_from(PyTuple_GET_ITEM(o, 0), PyTuple_GET_ITEM(o, 1), entity, cohort) < 0)
        return -1;
    return 1;
}

static PyObject *coin_tuple(long entity, long level, int64_t value, int64_t time) {
    return Py_BuildValue("(llLL)", entity, level, (long long)value, (long long)time);
}

static PyObject *out_script(Step *st, StepOut *o) {
    if (o->script_obj == NULL)
        o->script_obj = PyBytes_FromStringAndSize((const char *)st->d + o->script,
                                                  o->script_len);
    return o->script_obj;
}

/* The exchange an output pays (NULL with no error when none); looked up once. With a
 * filter, the lookup is called only for a script whose fingerprint the filter holds, and its
 * answer must be a str or None. */
static int out_exchange(Step *st, StepOut *o, PyObject **name) {
    if (!o->exchange_known) {
        PyObject *found = NULL;
        if (st->exchange_lookup == NULL) {
            PyObject *script = out_script(st, o);
            if (script == NULL) return -1;
            found = PyDict_GetItemWithError(st->exchanges, script);
            if (found == NULL && PyErr_Occurred()) return -1;
            Py_XINCREF(found);
        } else if (filter_has(st->exchange_filter,
                              member_fp(st->d + o->script, o->script_len))) {
            PyObject *script = out_script(st, o);
            if (script == NULL) return -1;
            found = PyObject_CallOneArg(st->exchange_lookup, script);
            if (found == NULL) return -1;
            if (found == Py_None) {
                Py_DECREF(found);
                found = NULL;
            } else if (!PyUnicode_Check(found)) {
                Py_DECREF(found);
                PyErr_SetString(PyExc_TypeError, "an exchange's name is a str or None");
                return -1;
            }
        }
        o->exchange = found;
        o->exchange_known = 1;
    }
    *name = o->exchange;
    return 0;
}

/* Not unspendable (OP_RETURN, or over 10,000 bytes) and paying no exchange: 1, 0, or -1. */
static int out_joinable(Step *st, StepOut *o) {
    if ((o->script_len > 0 && st->d[o->script] == 0x6A) || o->script_len > 10000) return 0;
    PyObject *name;
    if (out_exchange(st, o, &name) < 0) return -1;
    return name == NULL;
}

/* The output script's cohort membership as it stands now: the block's joins, else the view
 * (asked only when the fingerprint is in the members filter). 1, 0 or -1. */
static int out_member(Step *st, StepOut *o, Py_ssize_t index) {
    if (o->member_known) return o->is_member;
    uint64_t fp = member_fp(st->d + o->script, o->script_len);
    int found = 0;
    if (filter_has(st->members, fp)) {
        PyObject *script = out_script(st, o);
        if (script == NULL) return -1;
        PyObject *joined = PyDict_GetItemWithError(st->joined, script);
        if (joined == NULL && PyErr_Occurred()) return -1;
        if (joined != NULL && joined != Py_None) {
            Py_INCREF(joined);
            found = member_from(joined, &o->member_entity, &o->member_cohort);
            Py_DECREF(joined);
        } else {
            PyObject *got = PyObject_CallOneArg(st->stored_member, script);
            if (got == NULL) return -1;
            found = member_from(got, &o->member_entity, &o->member_cohort);
            Py_DECREF(got);
        }
        if (found < 0) return -1;
    }
    o->member_known = 1;
    o->is_member = found;
    (void)index;
    return found;
}

/* Take the coin an input spends: the block's own created coin (removed from `created`), none
 * when the block already spent it, else the view's (then recorded in `spent`). */
static int take_coin(Step *st, const uint8_t *prevout, StepIn *in, Py_ssize_t index) {
    uint64_t vout = le_u64(prevout + 32, 4);
    in->tracked = 0;
    if (!filter_has(st->coins, le_u64(prevout, 8) ^ vout)) return 0;
    int rc = -1;
    PyObject *key = Py_BuildValue("(y#K)", (const char *)prevout, (Py_ssize_t)32,
                                  (unsigned long long)vout);
    if (key == NULL) return -1;
    PyObject *coin = PyDict_GetItemWithError(st->created, key);
    if (coin == NULL && PyErr_Occurred()) goto done;
    if (coin != NULL) {
        Py_INCREF(coin);
        if (PyDict_DelItem(st->created, key) < 0) { Py_DECREF(coin); goto done; }
        if (coin != Py_None) {
            int got = coin_from(coin, in, index);
            Py_DECREF(coin);
            if (got < 0) goto done;
            in->tracked = 1;
            rc = 0;
            goto done;
        }
        Py_DECREF(coin);
    }
    int already = PyDict_Contains(st->spent, key);
    if (already < 0) goto done;
    if (already) { rc = 0; goto done; }
    PyObject *got = PyObject_CallFunction(st->stored_coin, "(y#K)", (const char *)prevout,
                                          (Py_ssize_t)32, (unsigned long long)vout);
    if (got == NULL) goto done;
    int tracked = coin_from(got, in, index);
    Py_DECREF(got);
    if (tracked < 0) goto done;
    if (tracked) {
        PyObject *value = coin_tuple(in->entity, in->level, in->value, in->time);
        if (value == NULL) goto done;
        int set = PyDict_SetItem(st->spent, key, value);
        Py_DECREF(value);
        if (set < 0) goto done;
        in->tracked = 1;
    }
    rc = 0;
done:
    Py_DECREF(key);
    return rc;
}

typedef struct { long entity; int64_t value; } OwnerValue;

static int owner_value_cmp(const void *a, const void *b) {
    long x = ((const OwnerValue *)a)->entity, y = ((const OwnerValue *)b)->entity;
    return (x > y) - (x < y);
}

/* sums[(entity, level)] += flow, as the reference's `add_sums`. */
static int add_sums(PyObject *sums, long entity, long level, PyObject *flow) {
    PyObject *key = Py_BuildValue("(ll)", entity, level);
    if (key == NULL) return -1;
    int rc = -1;
    PyObject *total = PyDict_GetItemWithError(sums, key);
    if (total == NULL) {
        if (PyErr_Occurred()) goto done;
        PyObject *fresh = PyList_New(8);
        if (fresh == NULL) goto done;
        for (Py_ssize_t i = 0; i < 8; i++) {
            PyObject *item = i == 5 ? PyDict_Copy(PyList_GET_ITEM(flow, 5))
                             : i == 7 ? PyList_GetSlice(PyList_GET_ITEM(flow, 7), 0,
                                                        PY_SSIZE_T_MAX)
                                      : Py_NewRef(PyList_GET_ITEM(flow, i));
            if (item == NULL) { Py_DECREF(fresh); goto done; }
            PyList_SET_ITEM(fresh, i, item);
        }
        rc = PyDict_SetItem(sums, key, fresh);
        Py_DECREF(fresh);
        goto done;
    }
    Py_INCREF(total);
    if (!PyList_CheckExact(total) || PyList_GET_SIZE(total) != 8
            || !PyDict_CheckExact(PyList_GET_ITEM(total, 5))
            || !PyList_CheckExact(PyList_GET_ITEM(total, 7))) {
        PyErr_SetString(PyExc_TypeError, "flow sums are a list of eight with a dict at 5 and "
                        "a list at 7");
        Py_DECREF(total);
        goto done;
    }
    static const int fields[6] = {0, 1, 2, 3, 4, 6};
    for (int k = 0; k < 6; k++) {
        int i = fields[k];
        /* an addition may run Python code that changes either list: look again each time */
        if (PyList_GET_SIZE(total) != 8 || PyList_GET_SIZE(flow) != 8) {
            PyErr_SetString(PyExc_TypeError, "flow sums changed size while being added");
            Py_DECREF(total);
            goto done;
        }
        PyObject *sum = PyNumber_InPlaceAdd(PyList_GET_ITEM(total, i), PyList_GET_ITEM(flow, i));
        if (sum == NULL) { Py_DECREF(total); goto done; }
        if (PyList_SetItem(total, i, sum) < 0) { Py_DECREF(total); goto done; }
    }
    if (PyList_GET_SIZE(total) != 8 || !PyDict_CheckExact(PyList_GET_ITEM(total, 5))
            || !PyList_CheckExact(PyList_GET_ITEM(total, 7))
            || PyList_GET_SIZE(flow) != 8 || !PyDict_CheckExact(PyList_GET_ITEM(flow, 5))
            || !PyList_CheckExact(PyList_GET_ITEM(flow, 7))) {
        PyErr_SetString(PyExc_TypeError, "flow sums are a list of eight with a dict at 5 and "
                        "a list at 7");
        Py_DECREF(total);
        goto done;
    }
    PyObject *by = Py_NewRef(PyList_GET_ITEM(total, 5));
    PyObject *name, *value;
    Py_ssize_t at = 0;
    int ok = 1;
    while (ok && PyDict_Next(PyList_GET_ITEM(flow, 5), &at, &name, &value)) {
        PyObject *old = PyDict_GetItemWithError(by, name);
        if (old == NULL && PyErr_Occurred()) { ok = 0; break; }
        PyObject *zero = NULL;
        if (old == NULL) old = zero = PyLong_FromLong(0);
        if (old == NULL) { ok = 0; break; }
        Py_INCREF(old);
        PyObject *sum = PyNumber_Add(old, value);
        Py_DECREF(old);
        Py_XDECREF(zero);
        if (sum == NULL || PyDict_SetItem(by, name, sum) < 0) ok = 0;
        Py_XDECREF(sum);
    }
    Py_DECREF(by);
    if (ok) {
        PyObject *ages = Py_NewRef(PyList_GET_ITEM(total, 7));
        PyObject *more = Py_NewRef(PyList_GET_ITEM(flow, 7));
        ok = PyList_SetSlice(ages, PyList_GET_SIZE(ages), PyList_GET_SIZE(ages), more) == 0;
        Py_DECREF(more);
        Py_DECREF(ages);
    }
    Py_DECREF(total);
    rc = ok ? 0 : -1;
done:
    Py_DECREF(key);
    return rc;
}

/* One decoded transaction through SPEC 5 (the reference's `_step_tx`). */
static int step_tx(Step *st, Cursor *c, Py_ssize_t index) {
    TxSpan t;
    t.start = c->p;
    StepIn *ins = NULL;
    StepOut *outs = NULL;
    OwnerValue *level0 = NULL;
    long *owners = NULL;
    PyObject *txid = NULL;
    uint64_t n_in = 0, n_out = 0;
    int rc = -1;

    if (!need(c, 6)) goto malformed;
    c->p += 4;
    int segwit = c->d[c->p] == 0 && c->d[c->p + 1] != 0;
    if (segwit) c->p += 2;
    t.body_start = c->p;
    n_in = compact_size(c);
    if (c->bad || n_in > (uint64_t)(c->n - c->p) / 41) goto malformed;
    ins = PyMem_Calloc((size_t)n_in + 1, sizeof(StepIn));
    Py_ssize_t *prevouts = PyMem_Calloc((size_t)n_in + 1, sizeof(Py_ssize_t));
    if (ins == NULL || prevouts == NULL) { PyMem_Free(prevouts); PyErr_NoMemory(); goto fail; }
    for (uint64_t i = 0; i < n_in && !c->bad; i++) {
        if (!need(c, 36)) break;
        prevouts[i] = c->p;
        c->p += 36;
        skip(c, compact_size(c));
        skip(c, 4);
    }
    n_out = c->bad ? 0 : compact_size(c);
    if (c->bad || n_out > (uint64_t)(c->n - c->p) / 9) { PyMem_Free(prevouts); goto malformed; }
    outs = PyMem_Calloc((size_t)n_out + 1, sizeof(StepOut));
    if (outs == NULL) { PyMem_Free(prevouts); PyErr_NoMemory(); goto fail; }
    uint64_t out_total = 0;
    int out_of_range = 0;
    for (uint64_t i = 0; i < n_out && !c->bad; i++) {
        if (!need(c, 8)) break;
        outs[i].value = (int64_t)le_u64(c->d + c->p, 8);
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
    t.body_end = c->p;
    if (segwit) {
        for (uint64_t i = 0; i < n_in && !c->bad; i++) {
            uint64_t items = compact_size(c);
            for (uint64_t j = 0; j < items && !c->bad; j++) skip(c, compact_size(c));
        }
    }
    t.lock = c->p;
    skip(c, 4);
    if (c->bad) { PyMem_Free(prevouts); goto malformed; }

    /* values: each, then the total, in 0..MAX_MONEY */
    for (uint64_t i = 0; i < n_out; i++) {
        if (outs[i].value < 0 || (uint64_t)outs[i].value > MAX_MONEY) {
            PyErr_Format(PyExc_ValueError, "transaction %zd: an output value outside "
                         "0..21,000,000 BTC", index);
            PyMem_Free(prevouts);
            goto fail;
        }
        out_total += (uint64_t)outs[i].value;
        if (out_total > MAX_MONEY) out_of_range = 1;
    }
    if (out_of_range) {
        PyErr_Format(PyExc_ValueError, "transaction %zd: the output total outside "
                     "0..21,000,000 BTC", index);
        PyMem_Free(prevouts);
        goto fail;
    }

    /* the coins spent, in input order */
    Py_ssize_t n_tracked = 0;
    for (uint64_t i = 0; i < n_in; i++) {
        if (take_coin(st, c->d + prevouts[i], &ins[i], index) < 0) {
            PyMem_Free(prevouts);
            goto fail;
        }
        n_tracked += ins[i].tracked;
    }
    PyMem_Free(prevouts);

    /* joins: outputs of a transaction spending level-0 coins join the largest owner's cohort 1 */
    if (n_tracked) {
        Py_ssize_t n0 = 0;
        level0 = PyMem_Calloc((size_t)n_tracked + 1, sizeof(OwnerValue));
        if (level0 == NULL) { PyErr_NoMemory(); goto fail; }
        for (uint64_t i = 0; i < n_in; i++)
            if (ins[i].tracked && ins[i].level == 0)
                level0[n0++] = (OwnerValue){ins[i].entity, ins[i].value};
        if (n0) {
            qsort(level0, (size_t)n0, sizeof(OwnerValue), owner_value_cmp);
            long joiner = -1;
            __int128 best = -1;
            for (Py_ssize_t i = 0; i < n0;) {
                __int128 sum = 0;
                Py_ssize_t j = i;
                for (; j < n0 && level0[j].entity == level0[i].entity; j++) sum += level0[j].value;
                if (sum > best) { best = sum; joiner = level0[i].entity; }
                i = j;
            }
            for (uint64_t i = 0; i < n_out; i++) {
                int member = out_member(st, &outs[i], index);
                if (member < 0) goto fail;
                if (member) continue;
                int joinable = out_joinable(st, &outs[i]);
                if (joinable < 0) goto fail;
                if (!joinable) continue;
                PyObject *script = out_script(st, &outs[i]);
                if (script == NULL) goto fail;
                PyObject *value = Py_BuildValue("(li)", joiner, 1);
                if (value == NULL) goto fail;
                int set = PyDict_SetItem(st->joined, script, value);
                Py_DECREF(value);
                if (set < 0) goto fail;
                if (filter_put(st->members, member_fp(st->d + outs[i].script,
                                                      outs[i].script_len)) < 0) goto fail;
                outs[i].is_member = 1;
                outs[i].member_entity = joiner;
                outs[i].member_cohort = 1;
            }
        }
    }

    /* the tracked coins it creates */
    int any_made = 0;
    for (uint64_t i = 0; i < n_out; i++) {
        int member = out_member(st, &outs[i], index);
        if (member < 0) goto fail;
        if (!member) continue;
        int joinable = out_joinable(st, &outs[i]);
        if (joinable < 0) goto fail;
        if (!joinable) continue;
        outs[i].made = 1;
        outs[i].made_entity = outs[i].member_entity;
        outs[i].made_level = outs[i].member_cohort;
        any_made = 1;
    }
    if (!n_tracked && !any_made) { rc = 0; goto fail; }

    uint8_t id[32];
    tx_hash(c, &t, id);
    txid = PyBytes_FromStringAndSize((const char *)id, 32);
    if (txid == NULL) goto fail;
    for (uint64_t i = 0; i < n_out; i++) {
        if (!outs[i].made) continue;
        PyObject *key = Py_BuildValue("(OK)", txid, (unsigned long long)i);
        PyObject *value = coin_tuple(outs[i].made_entity, outs[i].made_level, outs[i].value,
                                     st->time);
        int set = key && value ? PyDict_SetItem(st->created, key, value) : -1;
        Py_XDECREF(key);
        Py_XDECREF(value);
        if (set < 0) goto fail;
        if (filter_put(st->coins, le_u64(id, 8) ^ i) < 0) goto fail;
    }

    /* what went in: the miner coins' total, and all inputs' total */
    __int128 tracked_in = 0;
    for (uint64_t i = 0; i < n_in; i++)
        if (ins[i].tracked) tracked_in += ins[i].value;
    if (tracked_in > (__int128)MAX_MONEY) {
        PyErr_Format(PyExc_ValueError, "transaction %zd: the miner coins' total outside "
                     "0..21,000,000 BTC", index);
        goto fail;
    }
    __int128 total_in = 0;
    if (n_tracked && (uint64_t)n_tracked == n_in) {
        total_in = tracked_in;
    } else if (n_tracked) {
        PyObject *got = PyObject_CallFunction(st->spent_values, "n", index);
        if (got == NULL) goto fail;
        if (!PyList_CheckExact(got) || (uint64_t)PyList_GET_SIZE(got) != n_in) {
            PyErr_Format(PyExc_ValueError, "transaction %zd: the spent values do not match its "
                         "%llu inputs", index, (unsigned long long)n_in);
            Py_DECREF(got);
            goto fail;
        }
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(got); i++) {
            int64_t v;
            PyObject *item = Py_NewRef(PyList_GET_ITEM(got, i));
            int bad = money_from(item, &v, "a spent value", index);
            Py_DECREF(item);
            if (bad < 0) { Py_DECREF(got); goto fail; }
            total_in += v;
        }
        Py_DECREF(got);
        if (total_in > (__int128)MAX_MONEY) {
            PyErr_Format(PyExc_ValueError, "transaction %zd: the spent total outside "
                         "0..21,000,000 BTC", index);
            goto fail;
        }
        if (total_in < tracked_in) {
            PyErr_Format(PyExc_ValueError, "transaction %zd: its spent values are below its "
                         "miner coins", index);
            goto fail;
        }
    }
    __int128 fee = total_in - (__int128)out_total;

    /* the owners, ascending */
    owners = PyMem_Calloc((size_t)(n_in + n_out) + 1, sizeof(long));
    if (owners == NULL) { PyErr_NoMemory(); goto fail; }
    size_t n_owners = 0;
    for (uint64_t i = 0; i < n_in; i++)
        if (ins[i].tracked) owners[n_owners++] = ins[i].entity;
    for (uint64_t i = 0; i < n_out; i++)
        if (outs[i].made) owners[n_owners++] = outs[i].made_entity;
    qsort(owners, n_owners, sizeof(long), long_cmp);

    for (size_t k = 0; k < n_owners; k++) {
        if (k > 0 && owners[k] == owners[k - 1]) continue;
        long owner = owners[k];
        for (long at = 0; at <= 1; at++) {
            __int128 mine_in = 0;
            for (uint64_t i = 0; i < n_in; i++)
                if (ins[i].tracked && ins[i].entity == owner && ins[i].level <= at)
                    mine_in += ins[i].value;
            __int128 inflow = 0, outflow = 0, fees = 0, to_exchange = 0, balance = -mine_in;
            PyObject *by = PyDict_New();
            if (by == NULL) goto fail;
            for (uint64_t i = 0; i < n_out; i++) {
                __int128 value = outs[i].value;
                __int128 share = mine_in ? floor_div(value * mine_in, total_in) : 0;
                if (outs[i].made && outs[i].made_entity == owner && outs[i].made_level <= at) {
                    inflow += value - share;
                    balance += value;
                    continue;
                }
                outflow += share;
                PyObject *name;
                if (out_exchange(st, &outs[i], &name) < 0) { Py_DECREF(by); goto fail; }
                if (name != NULL && share) {
                    to_exchange += share;
                    PyObject *old = PyDict_GetItemWithError(by, name);
                    if (old == NULL && PyErr_Occurred()) { Py_DECREF(by); goto fail; }
                    long long before = old ? PyLong_AsLongLong(old) : 0;
                    PyObject *sum = PyLong_FromLongLong(before + (long long)share);
                    int set = sum ? PyDict_SetItem(by, name, sum) : -1;
                    Py_XDECREF(sum);
                    if (set < 0) { Py_DECREF(by); goto fail; }
                }
            }
            if (mine_in) fees += floor_div(fee * mine_in, total_in);
            PyObject *ages = PyList_New(0);
            if (ages == NULL) { Py_DECREF(by); goto fail; }
            if (to_exchange) {  /* SPEC 5.3: how long the coins it spent were held */
                __int128 held = 0;
                for (uint64_t i = 0; i < n_in; i++)
                    if (ins[i].tracked && ins[i].entity == owner && ins[i].level <= at)
                        held += (__int128)ins[i].value * (st->time - ins[i].time);
                PyObject *num = int128_to_py(held);
                PyObject *age = num ? Py_BuildValue("(LNL)", (long long)to_exchange, num,
                                                    (long long)mine_in) : NULL;
                int added = age ? PyList_Append(ages, age) : -1;
                Py_XDECREF(age);
                if (added < 0) { Py_DECREF(by); Py_DECREF(ages); goto fail; }
            }
            if (!inflow && !outflow && !fees && !to_exchange && !balance
                    && PyDict_GET_SIZE(by) == 0) {
                Py_DECREF(by);
                Py_DECREF(ages);
                continue;
            }
            PyObject *flow = Py_BuildValue("[iLLLLNLN]", 0, (long long)inflow,
                                           (long long)outflow, (long long)fees,
                                           (long long)to_exchange, by, (long long)balance, ages);
            if (flow == NULL) goto fail;
            if (add_sums(st->sums, owner, at, flow) < 0) { Py_DECREF(flow); goto fail; }
            if (st->tx_flows != Py_None) {
                PyObject *row = Py_BuildValue("(nOllN)", index, txid, owner, at, flow);
                int added = row ? PyList_Append(st->tx_flows, row) : -1;
                Py_XDECREF(row);
                if (added < 0) goto fail;
            } else {
                Py_DECREF(flow);
            }
        }
    }
    rc = 0;
    goto fail;

malformed:
    PyErr_Format(PyExc_ValueError, "transaction %zd runs past the end of the data", index);
fail:
    if (outs != NULL) {
        for (uint64_t i = 0; i < n_out; i++) {
            Py_XDECREF(outs[i].script_obj);
            Py_XDECREF(outs[i].exchange);
        }
    }
    PyMem_Free(outs);
    PyMem_Free(ins);
    PyMem_Free(level0);
    PyMem_Free(owners);
    Py_XDECREF(txid);
    return rc;
}

static int exact_dict(PyObject *o) { return PyDict_CheckExact(o); }

PyObject *step_txs(PyObject *module, PyObject *args) {
    Py_buffer view;
    Py_ssize_t pos, index, n_tx;
    PyObject *coins_obj, *members_obj, *lookups, *exchanges, *spent_values, *state;
    PyObject *table_obj = Py_None;
    Py_ssize_t time = 0;
    if (!PyArg_ParseTuple(args, "y*nnnO!O!OOOO|On", &view, &pos, &index, &n_tx, &FilterType,
                          &coins_obj, &FilterType, &members_obj, &lookups, &exchanges,
                          &spent_values, &state, &table_obj, &time))
        return NULL;
    PyObject *result = NULL;
    Py_buffer table_view = {0};
    ScanTable table = {0};
    int have_table = 0;
    if (!PyTuple_Check(lookups) || PyTuple_GET_SIZE(lookups) != 2) {
        PyErr_SetString(PyExc_TypeError, "view is (coin, member)");
        goto done;
    }
    if (time < 0 || (long long)time > 0xFFFFFFFFLL) {
        PyErr_SetString(PyExc_ValueError, "chain time outside 0..2**32 - 1");
        goto done;
    }
    Filter *exchange_filter = NULL;
    PyObject *exchange_lookup = NULL;
    if (PyTuple_CheckExact(exchanges) && PyTuple_GET_SIZE(exchanges) == 2
            && PyObject_TypeCheck(PyTuple_GET_ITEM(exchanges, 0), &FilterType)
            && PyCallable_Check(PyTuple_GET_ITEM(exchanges, 1))) {
        exchange_filter = (Filter *)PyTuple_GET_ITEM(exchanges, 0);
        exchange_lookup = PyTuple_GET_ITEM(exchanges, 1);
    } else if (!exact_dict(exchanges)) {
        PyErr_SetString(PyExc_TypeError, "exchanges is a dict or (Filter, lookup)");
        goto done;
    }
    if (!PyTuple_Check(state) || PyTuple_GET_SIZE(state) != 5) {
        PyErr_SetString(PyExc_TypeError, "state is (members, created, spent, sums, tx_flows)");
        goto done;
    }
    Step st = {
        PyTuple_GET_ITEM(state, 0), PyTuple_GET_ITEM(state, 1), PyTuple_GET_ITEM(state, 2),
        PyTuple_GET_ITEM(state, 3), PyTuple_GET_ITEM(state, 4),
        PyTuple_GET_ITEM(lookups, 0), PyTuple_GET_ITEM(lookups, 1), exchanges, spent_values,
        (Filter *)coins_obj, (Filter *)members_obj, view.buf, exchange_filter, exchange_lookup,
        (int64_t)time,
    };
    if (!exact_dict(st.joined) || !exact_dict(st.created) || !exact_dict(st.spent)
            || !exact_dict(st.sums) || !(st.tx_flows == Py_None || PyList_CheckExact(st.tx_flows))) {
        PyErr_SetString(PyExc_TypeError, "state holds four dicts and a list or None");
        goto done;
    }
    if (!scan_args_ok(pos, index, n_tx, view.len)) goto done;
    if (table_obj != Py_None) {
        if (PyObject_GetBuffer(table_obj, &table_view, PyBUF_SIMPLE) < 0) goto done;
        if (table_from(&table_view, view.len, pos, index, n_tx, &table) < 0) goto done;
        have_table = 1;
    }
    /* the objects read through `st` live as long as `state` and `lookups` (held by args) */
    Cursor c = {view.buf, view.len, pos, 0};
    while (have_table) {  /* the walk was done ahead: only the probes are left */
        /* as scan_from below: the probes read only the table and the filters */
        Py_ssize_t hit;
        Py_BEGIN_ALLOW_THREADS
        hit = table_scan(&table, &index, st.coins, st.members);
        Py_END_ALLOW_THREADS
        if (hit < 0) {
            if (table.bad) {
                PyErr_Format(PyExc_ValueError, "transaction %zd runs past the end of the data",
                             index);
                goto done;
            }
            c.p = (Py_ssize_t)TABLE_WORD(table.starts, index);
            break;
        }
        c.p = (Py_ssize_t)TABLE_WORD(table.starts, hit);
        if (step_tx(&st, &c, index) < 0) goto done;
        if ((uint64_t)c.p != TABLE_WORD(table.starts, index + 1)) {
            PyErr_SetString(PyExc_ValueError, "the scan table does not match the block");
            goto done;
        }
        index++;
    }
    while (!have_table) {
        /* The walk to the next flagged transaction reads only the bytes and the filters, which
         * only this (the applying) thread changes: other threads run meanwhile. */
        Py_ssize_t hit;
        Py_BEGIN_ALLOW_THREADS
        hit = scan_from(&c, &index, n_tx, st.coins, st.members);
        Py_END_ALLOW_THREADS
        if (c.bad) {
            PyErr_Format(PyExc_ValueError, "transaction %zd runs past the end of the data", index);
            goto done;
        }
        if (hit < 0) break;
        c.p = hit;
        if (step_tx(&st, &c, index) < 0) goto done;
        index++;
    }
    result = PyLong_FromSsize_t(c.p);
done:
    if (table_view.obj != NULL) PyBuffer_Release(&table_view);
    PyBuffer_Release(&view);
    return result;
}
