/* Filter: a compact set of 64-bit fingerprints. Twin: filters.py. */
#include "core.h"

#define FILTER_START_BITS 10

static void filter_insert(Filter *f, uint64_t key) {
    size_t mask = ((size_t)1 << f->bits) - 1;
    size_t i = filter_slot(f, key);
    for (;;) {
        uint64_t s = f->slots[i];
        if (s == key) return;
        if (s == 0) { f->slots[i] = key; f->used++; return; }
        i = (i + 1) & mask;
    }
}

static int filter_grow(Filter *f) {
    int old_bits = f->bits;
    uint64_t *old = f->slots;
    uint64_t *fresh = PyMem_Calloc((size_t)1 << (old_bits + 1), sizeof(uint64_t));
    if (fresh == NULL) { PyErr_NoMemory(); return -1; }
    f->slots = fresh;
    f->bits = old_bits + 1;
    f->used = 0;
    for (size_t i = 0; i < ((size_t)1 << old_bits); i++)
        if (old[i]) filter_insert(f, old[i]);
    PyMem_Free(old);
    return 0;
}

int filter_add_key(Filter *f, uint64_t key) {
    /* keep the load at or under 2/3 */
    if ((size_t)(f->used + 1) * 3 > ((size_t)1 << f->bits) * 2 && filter_grow(f) < 0) return -1;
    filter_insert(f, key);
    return 0;
}

/* The table exists from tp_new on, so a Filter made by Filter.__new__ alone is a valid, empty
 * one; __init__ empties it again. */
static int filter_reset(Filter *self) {
    uint64_t *fresh = PyMem_Calloc((size_t)1 << FILTER_START_BITS, sizeof(uint64_t));
    if (fresh == NULL) { PyErr_NoMemory(); return -1; }
    PyMem_Free(self->slots);
    self->slots = fresh;
    self->bits = FILTER_START_BITS;
    self->used = 0;
    self->has_zero = 0;
    return 0;
}

static PyObject *Filter_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    Filter *self = (Filter *)type->tp_alloc(type, 0);
    if (self == NULL) return NULL;
    self->slots = NULL;
    if (filter_reset(self) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static int Filter_init(Filter *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "", kwlist)) return -1;
    return filter_reset(self);
}

static void Filter_dealloc(Filter *self) {
    PyMem_Free(self->slots);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* A fingerprint is any int, taken modulo 2**64 (as the reference does). */
static int fp_from(PyObject *value, uint64_t *out) {
    if (!PyLong_Check(value)) {
        PyErr_SetString(PyExc_TypeError, "a fingerprint is an int");
        return -1;
    }
    *out = (uint64_t)PyLong_AsUnsignedLongLongMask(value);
    if (*out == (uint64_t)-1 && PyErr_Occurred()) return -1;
    return 0;
}

static PyObject *Filter_add(Filter *self, PyObject *value) {
    uint64_t fp;
    if (fp_from(value, &fp) < 0) return NULL;
    if (fp == 0) self->has_zero = 1;
    else if (filter_add_key(self, fp) < 0) return NULL;
    Py_RETURN_NONE;
}

/* Add a fingerprint (0 included): 0, or -1 with MemoryError set. */
int filter_put(Filter *f, uint64_t fp) {
    if (fp == 0) { f->has_zero = 1; return 0; }
    return filter_add_key(f, fp);
}

static int Filter_contains(Filter *self, PyObject *value) {
    uint64_t fp;
    if (fp_from(value, &fp) < 0) return -1;
    return filter_has(self, fp);
}

static Py_ssize_t Filter_len(Filter *self) { return self->used + self->has_zero; }

static PyObject *Filter_nbytes(Filter *self, void *closure) {
    return PyLong_FromSize_t(((size_t)1 << self->bits) * sizeof(uint64_t));
}

#define FILTER_MAX_RESERVE ((Py_ssize_t)1 << 40)

/* reserve(n): grow the table now to hold n fingerprints (loading a saved filter: inserting
 * slot by slot into a table of the saved size touches memory in order). */
static PyObject *Filter_reserve(Filter *self, PyObject *arg) {
    Py_ssize_t n = PyNumber_AsSsize_t(arg, PyExc_OverflowError);
    if (n == -1 && PyErr_Occurred()) return NULL;
    if (n < 0 || n > FILTER_MAX_RESERVE) {
        PyErr_Format(PyExc_ValueError, "reserve: %zd fingerprints", n);
        return NULL;
    }
    while ((size_t)(self->used + n) * 3 > ((size_t)1 << self->bits) * 2)
        if (filter_grow(self) < 0) return NULL;
    Py_RETURN_NONE;
}

/* add_many(data): add every nonzero little-endian u64 of `data` (8 bytes each). */
static PyObject *Filter_add_many(Filter *self, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    if (view.len % 8) {
        PyErr_Format(PyExc_ValueError, "add_many: %zd bytes is not a whole number of "
                     "fingerprints", view.len);
        PyBuffer_Release(&view);
        return NULL;
    }
    const uint8_t *d = view.buf;
    for (Py_ssize_t at = 0; at < view.len; at += 8) {
        uint64_t fp = le_u64(d + at, 8);
        if (fp && filter_add_key(self, fp) < 0) {
            PyBuffer_Release(&view);
            return NULL;
        }
    }
    PyBuffer_Release(&view);
    Py_RETURN_NONE;
}

/* slots(start, count) -> bytes: table slots start.. (clipped to the capacity) as little-endian
 * u64s, 0 for an empty slot. Over all slots, the nonzero ones are the nonzero fingerprints. */
static PyObject *Filter_slots(Filter *self, PyObject *args) {
    Py_ssize_t start, count;
    if (!PyArg_ParseTuple(args, "nn", &start, &count)) return NULL;
    Py_ssize_t cap = (Py_ssize_t)1 << self->bits;
    if (start < 0 || count < 0) {
        PyErr_Format(PyExc_ValueError, "slots: start %zd, count %zd", start, count);
        return NULL;
    }
    if (start > cap) start = cap;
    if (count > cap - start) count = cap - start;
    PyObject *out = PyBytes_FromStringAndSize(NULL, count * 8);
    if (out == NULL) return NULL;
    uint8_t *w = (uint8_t *)PyBytes_AS_STRING(out);
    for (Py_ssize_t i = 0; i < count; i++) put_le64(w, (uint64_t)i, self->slots[start + i]);
    return out;
}

static PyObject *Filter_capacity(Filter *self, void *closure) {
    return PyLong_FromSsize_t((Py_ssize_t)1 << self->bits);
}

static PyMethodDef Filter_methods[] = {
    {"add", (PyCFunction)Filter_add, METH_O, "Add a 64-bit fingerprint."},
    {"reserve", (PyCFunction)Filter_reserve, METH_O, "Make room for n more fingerprints."},
    {"add_many", (PyCFunction)Filter_add_many, METH_O,
     "Add every nonzero little-endian u64 of a bytes-like object."},
    {"slots", (PyCFunction)Filter_slots, METH_VARARGS,
     "slots(start, count) -> bytes: the table's slots as little-endian u64s (0 = empty)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Filter_getset[] = {
    {"nbytes", (getter)Filter_nbytes, NULL, "Bytes held by the table.", NULL},
    {"capacity", (getter)Filter_capacity, NULL, "Slots in the table (see slots()).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PySequenceMethods Filter_as_sequence = {
    .sq_length = (lenfunc)Filter_len,
    .sq_contains = (objobjproc)Filter_contains,
};

PyTypeObject FilterType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "indexer.fastpath._core.Filter",
    .tp_doc = "A compact set of 64-bit fingerprints.",
    .tp_basicsize = sizeof(Filter),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = Filter_new,
    .tp_init = (initproc)Filter_init,
    .tp_dealloc = (destructor)Filter_dealloc,
    .tp_methods = Filter_methods,
    .tp_getset = Filter_getset,
    .tp_as_sequence = &Filter_as_sequence,
};
