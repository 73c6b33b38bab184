/*
 * minerflow's compiled core: the same functions as indexer/fastpath/reference.py, which stays
 * the reference; tests check both give identical answers and identical indexes.
 *
 *   Filter            a compact set of 64-bit fingerprints (open addressing, 8 bytes a slot)
 *   scan_block        from one transaction on, find the next that may touch tracked state
 *   parse_block_undo  the spent values of every transaction of a CBlockUndo record
 *   xor_at            de-obfuscate bytes read from a blk/rev file offset (GIL released)
 *   merkle_root       the merkle root of a whole block's transactions (GIL released)
 *   block_weight      BIP 141 weight of a whole block (GIL released)
 *
 * Nothing read from a buffer is trusted: every length, count and offset is checked against what
 * is left before it is used, in a form that cannot overflow, and a malformed input raises
 * ValueError exactly where the reference raises it.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------- */
/* Filter                                                                                   */

/* A slot holding 0 is empty, so the fingerprint 0 is kept in a flag of its own. */
typedef struct {
    PyObject_HEAD
    uint64_t *slots;
    int bits;
    Py_ssize_t used;
    int has_zero;
} Filter;

#define FILTER_START_BITS 10

static inline size_t filter_slot(const Filter *f, uint64_t key) {
    return (size_t)((key * 0x9E3779B97F4A7C15ULL) >> (64 - f->bits));
}

static int filter_contains_key(const Filter *f, uint64_t key) {
    size_t mask = ((size_t)1 << f->bits) - 1;
    size_t i = filter_slot(f, key);
    for (;;) {
        uint64_t s = f->slots[i];
        if (s == key) return 1;
        if (s == 0) return 0;
        i = (i + 1) & mask;
    }
}

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

static int filter_add_key(Filter *f, uint64_t key) {
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

static inline int filter_has(const Filter *f, uint64_t fp) {
    return fp == 0 ? f->has_zero : filter_contains_key(f, fp);
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

static PyMethodDef Filter_methods[] = {
    {"add", (PyCFunction)Filter_add, METH_O, "Add a 64-bit fingerprint."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Filter_getset[] = {
    {"nbytes", (getter)Filter_nbytes, NULL, "Bytes held by the table.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PySequenceMethods Filter_as_sequence = {
    .sq_length = (lenfunc)Filter_len,
    .sq_contains = (objobjproc)Filter_contains,
};

static PyTypeObject FilterType = {
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

/* ---------------------------------------------------------------------------------------- */
/* Reading helpers: every read is bounds-checked; running past the end sets `bad`.           */

typedef struct {
    const uint8_t *d;
    Py_ssize_t n;
    Py_ssize_t p;
    int bad;
} Cursor;

static inline uint64_t le_u64(const uint8_t *s, Py_ssize_t len) {
    uint64_t v = 0;
    for (Py_ssize_t i = len - 1; i >= 0; i--) v = (v << 8) | s[i];
    return v;
}

/* Invariant: 0 <= p <= n, so n - p cannot overflow and p + k is only formed once it fits. */
static inline int need(Cursor *c, Py_ssize_t k) {
    if (k < 0 || k > c->n - c->p) { c->bad = 1; return 0; }
    return 1;
}

static inline uint64_t compact_size(Cursor *c) {
    if (!need(c, 1)) return 0;
    uint8_t b = c->d[c->p++];
    Py_ssize_t w = b < 0xFD ? 0 : b == 0xFD ? 2 : b == 0xFE ? 4 : 8;
    if (w == 0) return b;
    if (!need(c, w)) return 0;
    uint64_t v = le_u64(c->d + c->p, w);
    c->p += w;
    return v;
}

static inline void skip(Cursor *c, uint64_t k) {
    if (k > (uint64_t)PY_SSIZE_T_MAX || !need(c, (Py_ssize_t)k)) { c->bad = 1; return; }
    c->p += (Py_ssize_t)k;
}

/* The member fingerprint of a script: its last (up to) 8 bytes, little-endian, xor its length. */
static inline uint64_t member_fp(const uint8_t *s, Py_ssize_t len) {
    Py_ssize_t take = len < 8 ? len : 8;
    return le_u64(s + len - take, take) ^ (uint64_t)len;
}

/* ---------------------------------------------------------------------------------------- */
/* scan_block(data, pos, index, n_tx, coins, members) -> (index, pos)                         */

static PyObject *scan_block(PyObject *module, PyObject *args) {
    Py_buffer view;
    Py_ssize_t pos, index, n_tx;
    PyObject *coins_obj, *members_obj;
    if (!PyArg_ParseTuple(args, "y*nnnO!O!", &view, &pos, &index, &n_tx, &FilterType, &coins_obj,
                          &FilterType, &members_obj))
        return NULL;
    const Filter *coins = (const Filter *)coins_obj;
    const Filter *members = (const Filter *)members_obj;
    if (pos < 0 || pos > view.len || index < 0 || index > n_tx) {
        PyBuffer_Release(&view);
        PyErr_Format(PyExc_ValueError,
                     "scan_block: pos %zd or index %zd outside the data (%zd bytes, %zd txs)",
                     pos, index, view.len, n_tx);
        return NULL;
    }
    Cursor c = {view.buf, view.len, pos, 0};
    Py_ssize_t hit_at = -1;
    while (index < n_tx && !c.bad) {
        Py_ssize_t start = c.p;
        int hit = 0;
        if (!need(&c, 6)) break;
        c.p += 4;
        int segwit = c.d[c.p] == 0 && c.d[c.p + 1] != 0;
        if (segwit) c.p += 2;
        uint64_t n_in = compact_size(&c);
        for (uint64_t i = 0; i < n_in && !c.bad; i++) {
            if (!need(&c, 36)) break;
            uint64_t fp = le_u64(c.d + c.p, 8) ^ le_u64(c.d + c.p + 32, 4);
            hit |= filter_has(coins, fp);
            c.p += 36;
            skip(&c, compact_size(&c));
            skip(&c, 4);
        }
        uint64_t n_out = compact_size(&c);
        for (uint64_t i = 0; i < n_out && !c.bad; i++) {
            skip(&c, 8);
            uint64_t len = compact_size(&c);
            if (c.bad || len > (uint64_t)PY_SSIZE_T_MAX || !need(&c, (Py_ssize_t)len)) {
                c.bad = 1;
                break;
            }
            hit |= filter_has(members, member_fp(c.d + c.p, (Py_ssize_t)len));
            c.p += (Py_ssize_t)len;
        }
        if (segwit) {
            for (uint64_t i = 0; i < n_in && !c.bad; i++) {
                uint64_t items = compact_size(&c);
                for (uint64_t j = 0; j < items && !c.bad; j++) skip(&c, compact_size(&c));
            }
        }
        skip(&c, 4);
        if (c.bad) break;
        if (hit) { hit_at = start; break; }
        index++;
    }
    PyBuffer_Release(&view);
    if (c.bad) {
        PyErr_Format(PyExc_ValueError, "transaction %zd runs past the end of the data", index);
        return NULL;
    }
    return Py_BuildValue("nn", index, hit_at >= 0 ? hit_at : c.p);
}

/* ---------------------------------------------------------------------------------------- */
/* parse_block_undo(data) -> list[list[int]]                                                 */

/* Core's ReadVarInt for a uint64: a value that would not fit is an error, not a wrap. */
static inline uint64_t core_varint(Cursor *c) {
    uint64_t n = 0;
    for (;;) {
        if (!need(c, 1)) return 0;
        uint8_t ch = c->d[c->p++];
        if (n > (UINT64_MAX >> 7)) { c->bad = 1; return 0; }
        n = (n << 7) | (ch & 0x7F);
        if (!(ch & 0x80)) return n;
        if (n == UINT64_MAX) { c->bad = 1; return 0; }
        n++;
    }
}

#define MAX_MONEY 2100000000000000ULL

/* Core's DecompressAmount; an amount above MAX_MONEY cannot be a spent output: `bad`. */
static uint64_t decompress_amount(Cursor *c, uint64_t x) {
    if (x == 0) return 0;
    x--;
    int e = (int)(x % 10);
    x /= 10;
    uint64_t n;
    if (e < 9) {
        uint64_t d = x % 9 + 1;
        x /= 9;
        n = x * 10 + d;  /* x < 2**64 / 90: no overflow */
    } else {
        n = x + 1;
    }
    while (e--) {
        if (n > MAX_MONEY) break;
        n *= 10;
    }
    if (n > MAX_MONEY) { c->bad = 1; return 0; }
    return n;
}

static PyObject *parse_block_undo(PyObject *module, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    Cursor c = {view.buf, view.len, 0, 0};
    PyObject *txs = NULL;
    uint64_t n_tx = compact_size(&c);
    /* every transaction takes a byte at least, every input three: counts beyond what is left
     * are errors before anything is allocated */
    if (c.bad || n_tx > (uint64_t)(view.len - c.p)) goto bad;
    txs = PyList_New((Py_ssize_t)n_tx);
    if (txs == NULL) goto fail;
    for (uint64_t t = 0; t < n_tx; t++) {
        uint64_t n_in = compact_size(&c);
        if (c.bad || n_in > (uint64_t)(view.len - c.p) / 3) goto bad;
        PyObject *values = PyList_New((Py_ssize_t)n_in);
        if (values == NULL) goto fail;
        PyList_SET_ITEM(txs, (Py_ssize_t)t, values);
        for (uint64_t i = 0; i < n_in; i++) {
            uint64_t code = core_varint(&c);
            if (code >> 1) core_varint(&c);
            uint64_t amount = decompress_amount(&c, core_varint(&c));
            uint64_t size = core_varint(&c);
            if (c.bad) goto bad;
            skip(&c, size < 6 ? (size < 2 ? 20 : 32) : size - 6);
            if (c.bad) goto bad;
            PyObject *value = PyLong_FromUnsignedLongLong(amount);
            if (value == NULL) goto fail;
            PyList_SET_ITEM(values, (Py_ssize_t)i, value);
        }
    }
    if (c.p != view.len) {
        PyErr_Format(PyExc_ValueError, "undo record uses %zd of its %zd bytes", c.p, view.len);
        goto fail;
    }
    PyBuffer_Release(&view);
    return txs;
bad:
    PyErr_SetString(PyExc_ValueError, "undo record runs past its end");
fail:
    Py_XDECREF(txs);
    PyBuffer_Release(&view);
    return NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* xor_at(data, key, offset) -> bytes                                                         */

static PyObject *xor_at(PyObject *module, PyObject *args) {
    Py_buffer data, key;
    unsigned long long offset;
    if (!PyArg_ParseTuple(args, "y*y*K", &data, &key, &offset)) return NULL;
    if (key.len != 8) {
        PyBuffer_Release(&data);
        PyBuffer_Release(&key);
        PyErr_SetString(PyExc_ValueError, "the xor key is 8 bytes");
        return NULL;
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, data.len);
    if (out != NULL) {
        uint8_t *o = (uint8_t *)PyBytes_AS_STRING(out);
        const uint8_t *s = data.buf;
        const uint8_t *k = key.buf;
        Py_ssize_t n = data.len;
        uint8_t rotated[8];
        for (int i = 0; i < 8; i++) rotated[i] = k[(offset + (unsigned)i) % 8];
        uint64_t word;
        memcpy(&word, rotated, 8);
        Py_BEGIN_ALLOW_THREADS
        Py_ssize_t i = 0;
        for (; i + 8 <= n; i += 8) {
            uint64_t v;
            memcpy(&v, s + i, 8);
            v ^= word;
            memcpy(o + i, &v, 8);
        }
        for (; i < n; i++) o[i] = s[i] ^ rotated[i % 8];
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&data);
    PyBuffer_Release(&key);
    return out;
}

/* ---------------------------------------------------------------------------------------- */
/* SHA-256 (FIPS 180-4), enough for txids and merkle nodes                                   */

typedef struct {
    uint32_t h[8];
    uint8_t buf[64];
    size_t fill;
    uint64_t total;
} Sha256;

static const uint32_t SHA_K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2,
};

#define ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block(uint32_t *h, const uint8_t *p) {
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROTR(w[i - 15], 7) ^ ROTR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROTR(w[i - 2], 17) ^ ROTR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = k + (ROTR(e, 6) ^ ROTR(e, 11) ^ ROTR(e, 25)) + ((e & f) ^ (~e & g)) +
                      SHA_K[i] + w[i];
        uint32_t t2 = (ROTR(a, 2) ^ ROTR(a, 13) ^ ROTR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        k = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += k;
}

static void sha256_init(Sha256 *s) {
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(s->h, iv, sizeof iv);
    s->fill = 0;
    s->total = 0;
}

static void sha256_update(Sha256 *s, const uint8_t *p, size_t n) {
    s->total += n;
    if (s->fill) {
        size_t take = 64 - s->fill < n ? 64 - s->fill : n;
        memcpy(s->buf + s->fill, p, take);
        s->fill += take;
        p += take;
        n -= take;
        if (s->fill < 64) return;
        sha256_block(s->h, s->buf);
        s->fill = 0;
    }
    for (; n >= 64; p += 64, n -= 64) sha256_block(s->h, p);
    memcpy(s->buf, p, n);
    s->fill = n;
}

static void sha256_final(Sha256 *s, uint8_t out[32]) {
    uint64_t bits = s->total * 8;
    uint8_t pad[72] = {0x80};
    size_t padlen = (s->fill < 56 ? 56 : 120) - s->fill;
    for (int i = 0; i < 8; i++) pad[padlen + i] = (uint8_t)(bits >> (56 - 8 * i));
    sha256_update(s, pad, padlen + 8);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(s->h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(s->h[i] >> 8);
        out[4 * i + 3] = (uint8_t)s->h[i];
    }
}

/* Finish the first hash of `s` and hash its digest again: out = sha256(sha256(...)). */
static void sha256d_finish(Sha256 *s, uint8_t out[32]) {
    uint8_t once[32];
    sha256_final(s, once);
    sha256_init(s);
    sha256_update(s, once, 32);
    sha256_final(s, out);
}

static void sha256d(const uint8_t *p, size_t n, uint8_t out[32]) {
    Sha256 s;
    sha256_init(&s);
    sha256_update(&s, p, n);
    sha256d_finish(&s, out);
}

/* ---------------------------------------------------------------------------------------- */
/* merkle_root(block) -> bytes                                                                */

/* Where one transaction's witness-stripped serialization lies: [start, body_start) holds the
 * version (and, when body_start > start + 4, the segwit marker and flag), [body_start, body_end)
 * the inputs and outputs, [lock, lock + 4) the lock time; the transaction ends at lock + 4. */
typedef struct {
    Py_ssize_t start, body_start, body_end, lock;
} TxSpan;

/* Walk one transaction, leaving the cursor after it (or bad). */
static void tx_walk(Cursor *c, TxSpan *t) {
    t->start = c->p;
    if (!need(c, 6)) return;
    c->p += 4;
    int segwit = c->d[c->p] == 0 && c->d[c->p + 1] != 0;
    if (segwit) c->p += 2;
    t->body_start = c->p;
    uint64_t n_in = compact_size(c);
    for (uint64_t i = 0; i < n_in && !c->bad; i++) {
        skip(c, 36);
        skip(c, compact_size(c));
        skip(c, 4);
    }
    uint64_t n_out = compact_size(c);
    for (uint64_t i = 0; i < n_out && !c->bad; i++) {
        skip(c, 8);
        skip(c, compact_size(c));
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

/* Step over a block's header and read its transaction count; the reason it cannot be a
 * block, or NULL. A transaction takes ten bytes at least: a larger count cannot be honest. */
static const char *block_start(Cursor *c, uint64_t *n_tx) {
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

/* Walk one transaction; its txid is the double SHA-256 of version, inputs and outputs, lock
 * time, without the segwit marker, flag and witnesses. */
static void tx_id(Cursor *c, uint8_t out[32]) {
    TxSpan t;
    tx_walk(c, &t);
    if (c->bad) return;
    if (t.body_start == t.start + 4) {
        sha256d(c->d + t.start, (size_t)(c->p - t.start), out);
        return;
    }
    Sha256 s;
    sha256_init(&s);
    sha256_update(&s, c->d + t.start, 4);
    sha256_update(&s, c->d + t.body_start, (size_t)(t.body_end - t.body_start));
    sha256_update(&s, c->d + t.lock, 4);
    sha256d_finish(&s, out);
}

static PyObject *merkle_root(PyObject *module, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    Cursor c = {view.buf, view.len, 0, 0};
    uint8_t *nodes = NULL;
    uint8_t root[32];
    const char *why = NULL;
    uint64_t n_tx = 0;
    if ((why = block_start(&c, &n_tx)) != NULL) {
        /* nothing to walk */
    } else if ((nodes = PyMem_Malloc((size_t)n_tx * 32 + 32)) == NULL) {
        PyBuffer_Release(&view);
        return PyErr_NoMemory();
    }
    if (why == NULL) {
        Py_BEGIN_ALLOW_THREADS
        for (uint64_t t = 0; t < n_tx && !c.bad; t++) tx_id(&c, nodes + 32 * t);
        if (!c.bad && c.p == c.n) {
            size_t level = (size_t)n_tx;
            while (level > 1) {
                if (level % 2) {
                    memcpy(nodes + 32 * level, nodes + 32 * (level - 1), 32);
                    level++;
                }
                for (size_t i = 0; i < level / 2; i++)
                    sha256d(nodes + 64 * i, 64, nodes + 32 * i);
                level /= 2;
            }
            memcpy(root, nodes, 32);
        }
        Py_END_ALLOW_THREADS
        if (c.bad) why = "block runs past its end";
        else if (c.p != c.n) why = "block has bytes after its last transaction";
    }
    PyMem_Free(nodes);
    PyBuffer_Release(&view);
    if (why != NULL) {
        PyErr_SetString(PyExc_ValueError, why);
        return NULL;
    }
    return PyBytes_FromStringAndSize((const char *)root, 32);
}

/* ---------------------------------------------------------------------------------------- */
/* block_weight(block) -> int                                                                 */

/* BIP 141 weight: three times the stripped size (header, transaction count and every
 * transaction without marker, flag and witnesses) plus the total size. */
static PyObject *block_weight(PyObject *module, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    Cursor c = {view.buf, view.len, 0, 0};
    const char *why = NULL;
    Py_ssize_t stripped = 0;
    uint64_t n_tx = 0;
    if ((why = block_start(&c, &n_tx)) == NULL) {
        stripped = c.p;
        Py_BEGIN_ALLOW_THREADS
        for (uint64_t t = 0; t < n_tx && !c.bad; t++) {
            TxSpan span;
            tx_walk(&c, &span);
            if (!c.bad) stripped += tx_stripped_size(&span);
        }
        Py_END_ALLOW_THREADS
        if (c.bad) why = "block runs past its end";
        else if (c.p != c.n) why = "block has bytes after its last transaction";
    }
    Py_ssize_t total = view.len;
    PyBuffer_Release(&view);
    if (why != NULL) {
        PyErr_SetString(PyExc_ValueError, why);
        return NULL;
    }
    /* stripped <= total <= PY_SSIZE_T_MAX: the sum fits in 64 bits unsigned */
    return PyLong_FromUnsignedLongLong(3 * (unsigned long long)stripped
                                       + (unsigned long long)total);
}

static PyMethodDef core_methods[] = {
    {"scan_block", scan_block, METH_VARARGS,
     "scan_block(data, pos, index, n_tx, coins, members) -> (index, pos) of the next "
     "transaction that spends a fingerprinted coin or pays a fingerprinted script; "
     "(n_tx, end of the last transaction) when none does."},
    {"parse_block_undo", parse_block_undo, METH_O,
     "The spent values of every non-coinbase transaction of a CBlockUndo record."},
    {"xor_at", xor_at, METH_VARARGS, "De-obfuscate bytes read at a file offset."},
    {"merkle_root", merkle_root, METH_O,
     "The merkle root (serialized order) of the txids of a whole serialized block."},
    {"block_weight", block_weight, METH_O,
     "BIP 141 weight of a whole serialized block: 3 x stripped size + total size."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT, "indexer.fastpath._core",
    "minerflow's compiled core (see indexer/fastpath/reference.py for the reference).", -1,
    core_methods,
};

PyMODINIT_FUNC PyInit__core(void) {
    if (PyType_Ready(&FilterType) < 0) return NULL;
    PyObject *m = PyModule_Create(&core_module);
    if (m == NULL) return NULL;
    Py_INCREF(&FilterType);
    if (PyModule_AddObject(m, "Filter", (PyObject *)&FilterType) < 0) {
        Py_DECREF(&FilterType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
