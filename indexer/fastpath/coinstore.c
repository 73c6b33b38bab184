/*
 * The tracked coins' two hot loops between the cohort step and the write buffer, compiled:
 *
 *   get_coin   the coin at an outpoint, read through the write buffer's layers, else the index
 *   put_coins  a block's spent or created coins put into the write buffer by its put rule
 *
 * Their reference is indexer/fastpath/reference.py (`get_coin`, `put_coins`), written over
 * indexer/store/keys.py's coin encoding and indexer/store/batch.py's `put_entries`:
 *
 *   key    'o' + txid_rev (32 bytes) + vout (u32 big-endian)           keys.coin_key
 *   value  entity (u16 big-endian) + level (u8) + value (u64 big-endian)
 *          + chain time of the block that made it (u32 big-endian)        keys.pack_coin
 *
 * Nothing from the caller is trusted: every object's type is checked before it is read, and a
 * value of the wrong length or range raises exactly where the reference raises.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "coinstore.h"

#define COIN_KEY_LEN 37
#define COIN_VALUE_LEN 15

/* keys.coin_key of (txid_rev, vout): TypeError, ValueError (txid length) or OverflowError. */
static int outpoint_key(PyObject *txid_rev, PyObject *vout, uint8_t key[COIN_KEY_LEN]) {
    if (!PyBytes_Check(txid_rev) || !PyLong_Check(vout)) {
        PyErr_SetString(PyExc_TypeError, "an outpoint is (txid_rev bytes, vout int)");
        return -1;
    }
    if (PyBytes_GET_SIZE(txid_rev) != 32) {
        PyErr_SetString(PyExc_ValueError, "a txid is 32 bytes");
        return -1;
    }
    unsigned long long n = PyLong_AsUnsignedLongLong(vout);  /* OverflowError below 0 */
    if (n == (unsigned long long)-1 && PyErr_Occurred()) return -1;
    if (n > 0xFFFFFFFFull) {
        PyErr_SetString(PyExc_OverflowError, "a vout is a u32");
        return -1;
    }
    key[0] = 'o';
    memcpy(key + 1, PyBytes_AS_STRING(txid_rev), 32);
    for (int i = 0; i < 4; i++) key[33 + i] = (uint8_t)(n >> (24 - 8 * i));
    return 0;
}

/* An unsigned int of at most `max` from a Python int: TypeError or OverflowError. */
static int field_from(PyObject *o, unsigned long long max, unsigned long long *out) {
    if (!PyLong_Check(o)) {
        PyErr_SetString(PyExc_TypeError, "a coin is (entity, level, value, time) ints");
        return -1;
    }
    unsigned long long n = PyLong_AsUnsignedLongLong(o);
    if (n == (unsigned long long)-1 && PyErr_Occurred()) return -1;
    if (n > max) {
        PyErr_SetString(PyExc_OverflowError, "a coin field out of range");
        return -1;
    }
    *out = n;
    return 0;
}

/* keys.pack_coin of an (entity, level, value, time) tuple: a new bytes object, or NULL. */
static PyObject *coin_value(PyObject *coin) {
    if (!PyTuple_Check(coin) || PyTuple_GET_SIZE(coin) != 4) {
        PyErr_SetString(PyExc_TypeError, "a coin is (entity, level, value, time) ints");
        return NULL;
    }
    unsigned long long entity, level, value, time;
    if (field_from(PyTuple_GET_ITEM(coin, 0), 0xFFFF, &entity) < 0
            || field_from(PyTuple_GET_ITEM(coin, 1), 0xFF, &level) < 0
            || field_from(PyTuple_GET_ITEM(coin, 2), UINT64_MAX, &value) < 0
            || field_from(PyTuple_GET_ITEM(coin, 3), 0xFFFFFFFF, &time) < 0)
        return NULL;
    uint8_t out[COIN_VALUE_LEN];
    out[0] = (uint8_t)(entity >> 8);
    out[1] = (uint8_t)entity;
    out[2] = (uint8_t)level;
    for (int i = 0; i < 8; i++) out[3 + i] = (uint8_t)(value >> (56 - 8 * i));
    for (int i = 0; i < 4; i++) out[11 + i] = (uint8_t)(time >> (24 - 8 * i));
    return PyBytes_FromStringAndSize((const char *)out, COIN_VALUE_LEN);
}

/* keys.unpack_coin of a stored value (None stays None): a new reference, or NULL. */
static PyObject *coin_tuple_from(PyObject *raw) {
    if (raw == Py_None) Py_RETURN_NONE;
    if (!PyBytes_Check(raw)) {
        PyErr_SetString(PyExc_TypeError, "a stored coin is bytes or None");
        return NULL;
    }
    if (PyBytes_GET_SIZE(raw) != COIN_VALUE_LEN) {
        PyErr_Format(PyExc_ValueError, "a stored coin is %d bytes, not %zd", COIN_VALUE_LEN,
                     PyBytes_GET_SIZE(raw));
        return NULL;
    }
    const uint8_t *p = (const uint8_t *)PyBytes_AS_STRING(raw);
    unsigned long long value = 0;
    for (int i = 0; i < 8; i++) value = value << 8 | p[3 + i];
    unsigned long time = 0;
    for (int i = 0; i < 4; i++) time = time << 8 | p[11 + i];
    return Py_BuildValue("(kkKk)", (unsigned long)(p[0] << 8 | p[1]), (unsigned long)p[2],
                         value, time);
}

/* get_coin(layers, get, txid_rev, vout) -> (entity, level, value, time) or None */
static PyObject *get_coin(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "get_coin(layers, get, txid_rev, vout)");
        return NULL;
    }
    uint8_t key_bytes[COIN_KEY_LEN];
    if (outpoint_key(args[2], args[3], key_bytes) < 0) return NULL;
    PyObject *layers = args[0];
    if (!PyList_CheckExact(layers)) {
        PyErr_SetString(PyExc_TypeError, "layers is a list of dicts");
        return NULL;
    }
    PyObject *key = PyBytes_FromStringAndSize((const char *)key_bytes, COIN_KEY_LEN);
    if (key == NULL) return NULL;
    PyObject *raw = NULL;  /* a new reference once found */
    for (Py_ssize_t i = 0; raw == NULL && i < PyList_GET_SIZE(layers); i++) {
        PyObject *layer = PyList_GET_ITEM(layers, i);
        if (!PyDict_CheckExact(layer)) {
            PyErr_SetString(PyExc_TypeError, "layers is a list of dicts");
            Py_DECREF(key);
            return NULL;
        }
        Py_INCREF(layer);
        raw = PyDict_GetItemWithError(layer, key);
        Py_XINCREF(raw);
        Py_DECREF(layer);
        if (raw == NULL && PyErr_Occurred()) {
            Py_DECREF(key);
            return NULL;
        }
    }
    if (raw == NULL) raw = PyObject_CallOneArg(args[1], key);
    Py_DECREF(key);
    if (raw == NULL) return NULL;
    PyObject *coin = coin_tuple_from(raw);
    Py_DECREF(raw);
    return coin;
}

/* batch.put_entries' rule for one (key, value, old): the first put of a key in a block records
 * `old` as its undo; a key no earlier state held is born, and deleting a born key drops it from
 * the overlay instead of writing a delete. */
static int put_entry(PyObject *undo, PyObject *overlay, PyObject *born, PyObject *key,
                     PyObject *value, PyObject *old) {
    int seen = PyDict_Contains(undo, key);
    if (seen < 0) return -1;
    if (!seen) {
        if (PyDict_SetItem(undo, key, old) < 0) return -1;
        if (old == Py_None) {
            int held = PyDict_Contains(overlay, key);
            if (held < 0) return -1;
            if (!held && PySet_Add(born, key) < 0) return -1;
        }
    }
    if (value == Py_None) {
        int was_born = PySet_Discard(born, key);
        if (was_born < 0) return -1;
        if (was_born) {  /* overlay.pop(key, None) */
            if (PyDict_DelItem(overlay, key) < 0) {
                if (!PyErr_ExceptionMatches(PyExc_KeyError)) return -1;
                PyErr_Clear();
            }
            return 0;
        }
    }
    return PyDict_SetItem(overlay, key, value);
}

/* put_coins(undo, overlay, born, coins, created) -> None */
static PyObject *put_coins(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "put_coins(undo, overlay, born, coins, created)");
        return NULL;
    }
    PyObject *undo = args[0], *overlay = args[1], *born = args[2], *coins = args[3];
    if (!PyDict_CheckExact(undo) || !PyDict_CheckExact(overlay) || !PySet_CheckExact(born)
            || !PyDict_CheckExact(coins) || !PyBool_Check(args[4])) {
        PyErr_SetString(PyExc_TypeError,
                        "put_coins takes three dicts, a set and a bool, in that order");
        return NULL;
    }
    int created = args[4] == Py_True;
    /* The items are copied first: nothing below can change `coins` under the walk. */
    PyObject *items = PyDict_Items(coins);
    if (items == NULL) return NULL;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(items); i++) {
        PyObject *item = PyList_GET_ITEM(items, i);
        PyObject *outpoint = PyTuple_GET_ITEM(item, 0);
        if (!PyTuple_Check(outpoint) || PyTuple_GET_SIZE(outpoint) != 2) {
            PyErr_SetString(PyExc_TypeError, "an outpoint is (txid_rev bytes, vout int)");
            goto fail;
        }
        uint8_t key_bytes[COIN_KEY_LEN];
        if (outpoint_key(PyTuple_GET_ITEM(outpoint, 0), PyTuple_GET_ITEM(outpoint, 1),
                         key_bytes) < 0)
            goto fail;
        PyObject *packed = coin_value(PyTuple_GET_ITEM(item, 1));
        if (packed == NULL) goto fail;
        PyObject *key = PyBytes_FromStringAndSize((const char *)key_bytes, COIN_KEY_LEN);
        int rc = key == NULL ? -1
                 : created ? put_entry(undo, overlay, born, key, packed, Py_None)
                           : put_entry(undo, overlay, born, key, Py_None, packed);
        Py_XDECREF(key);
        Py_DECREF(packed);
        if (rc < 0) goto fail;
    }
    Py_DECREF(items);
    Py_RETURN_NONE;
fail:
    Py_DECREF(items);
    return NULL;
}

static PyMethodDef coinstore_methods[] = {
    {"get_coin", (PyCFunction)(void (*)(void))get_coin, METH_FASTCALL,
     "get_coin(layers, get, txid_rev, vout) -> (entity, level, value, time) or None: the coin at "
     "keys.coin_key(txid_rev, vout) in the first layer (a dict) holding the key, else get(key)."},
    {"put_coins", (PyCFunction)(void (*)(void))put_coins, METH_FASTCALL,
     "put_coins(undo, overlay, born, coins, created): put each coin of `coins` "
     "({(txid_rev, vout): (entity, level, value, time)}) by the write buffer's rule, as a value "
     "(created) or as a delete whose undo is the coin."},
    {NULL, NULL, 0, NULL},
};

int coinstore_add(PyObject *module) {
    return PyModule_AddFunctions(module, coinstore_methods);
}
