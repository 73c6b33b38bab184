/*
 * What the files of minerflow's compiled core share: the Filter type, the bounds-checked
 * cursor every read goes through, the transaction walk's spans, the scan table, SHA-256 and
 * the module's functions. Each file holds one responsibility beside its pure-Python twin
 * (indexer/fastpath/<name>.py), and _core.c puts the module together:
 *
 *   filters.c   Filter: a compact set of 64-bit fingerprints (open addressing, 8 bytes a slot)
 *   hashing.c   SHA-256 and sha256d (portable, or the x86 SHA extensions when present)
 *   walk.c      the transaction and block walks: scan_block, scan_table, merkle_root,
 *               block_weight, block_check (BIP 141 witness commitment included)
 *   undo.c      CBlockUndo records (parse_block_undo, pack_block_undo) and xor_at
 *   step.c      step_txs: SPEC 5 over a block's transactions after the coinbase
 *   exchange.c  undo_hits, undo_held, exchange_txs: SPEC 5.1 (exchange flows), spent
 *               scripts from undo
 *   labels.c    derive_candidates: the transactions a `labels derive` pass must look at
 *   addresses.c decode_address: the output script an address names
 *   coinstore.c get_coin, put_coins: the tracked coins through the write buffer
 *
 * Nothing read from a buffer is trusted: every length, count and offset is checked against what
 * is left before it is used, in a form that cannot overflow, and a malformed input raises
 * ValueError exactly where the reference raises it.
 */
#ifndef MINERFLOW_CORE_H
#define MINERFLOW_CORE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------- */
/* Filter (filters.c)                                                                       */

/* A slot holding 0 is empty, so the fingerprint 0 is kept in a flag of its own. */
typedef struct {
    PyObject_HEAD
    uint64_t *slots;
    int bits;
    Py_ssize_t used;
    int has_zero;
} Filter;

extern PyTypeObject FilterType;

static inline size_t filter_slot(const Filter *f, uint64_t key) {
    return (size_t)((key * 0x9E3779B97F4A7C15ULL) >> (64 - f->bits));
}

/* Start loading the slot a later probe of `fp` reads first: a large table misses the cache on
 * nearly every probe, and probes issued ahead overlap their waits. Changes no answer. */
static inline void filter_prefetch(const Filter *f, uint64_t fp) {
    /* a table of 32 KiB or less stays in the cache: nothing to overlap */
    if (f->slots != NULL && f->bits > 12) __builtin_prefetch(&f->slots[filter_slot(f, fp)]);
}
int filter_add_key(Filter *f, uint64_t key);
int filter_put(Filter *f, uint64_t fp);

/* Whether the filter holds `fp` (linear probing; the table is never full). Inline: the scans
 * probe every fingerprint of a block. */
static inline int filter_has(const Filter *f, uint64_t fp) {
    if (fp == 0) return f->has_zero;
    size_t mask = ((size_t)1 << f->bits) - 1;
    for (size_t i = filter_slot(f, fp);; i = (i + 1) & mask) {
        uint64_t s = f->slots[i];
        if (s == fp) return 1;
        if (s == 0) return 0;
    }
}

/* Whether the filter holds nothing: its probes can be left out. */
static inline int filter_empty(const Filter *f) {
    return f->used == 0 && !f->has_zero;
}

/* Write v little-endian as the word-th u64 of w. */
static inline void put_le64(uint8_t *w, uint64_t word, uint64_t v) {
    for (int k = 0; k < 8; k++) w[word * 8 + k] = (uint8_t)(v >> (8 * k));
}

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
/* The transaction walk (walk.c)                                                            */

/* Where one transaction's witness-stripped serialization lies: [start, body_start) holds the
 * version (and, when body_start > start + 4, the segwit marker and flag), [body_start, body_end)
 * the inputs and outputs, [lock, lock + 4) the lock time; the transaction ends at lock + 4. */
typedef struct {
    Py_ssize_t start, body_start, body_end, lock;
} TxSpan;

/* A scan table being made (see scan_table below): room for every transaction, and for every
 * fingerprint the bytes left can hold (an input takes 36 bytes before its fingerprint is taken,
 * an output 9). */
typedef struct {
    uint64_t *starts, *coin_at, *member_at, *coin_fps, *member_fps;
    size_t tx_cap, coin_cap, member_cap, k, nc, nm;
} TableBuild;

/* The filters a walk probes each fingerprint against, and whether one held it. */
typedef struct {
    const Filter *coins, *members;
    int hit;
} Probe;

/* Walk one transaction, leaving the cursor after it (or bad); with `b`, record where it starts
 * and its fingerprints; with `probe`, look them up in its filters. The one walk of the core's
 * framing: the merkle and weight walk, the scan table and the scan all go through it. */

const char *block_start(Cursor *c, uint64_t *n_tx);
int table_build_init(TableBuild *b, uint64_t n_tx, Py_ssize_t left);
void tx_walk(Cursor *c, TxSpan *t, TableBuild *b, Probe *probe);
void tx_hash(const Cursor *c, const TxSpan *t, uint8_t out[32]);
Py_ssize_t scan_from(Cursor *c, Py_ssize_t *index, Py_ssize_t n_tx, const Filter *coins,
                     const Filter *members);
int scan_args_ok(Py_ssize_t pos, Py_ssize_t index, Py_ssize_t n_tx, Py_ssize_t len);

typedef struct {
    uint64_t n_tx, k, bad;
    const uint8_t *starts, *coin_at, *member_at, *coin_fps, *member_fps;
} ScanTable;

#define TABLE_WORD(a, i) le_u64((a) + 8 * (size_t)(i), 8)

int table_from(Py_buffer *tv, Py_ssize_t data_len, Py_ssize_t pos, Py_ssize_t index,
               Py_ssize_t n_tx, ScanTable *t);
Py_ssize_t table_scan(const ScanTable *t, Py_ssize_t *index, const Filter *coins,
                      const Filter *members);

/* ---------------------------------------------------------------------------------------- */
/* SHA-256 (hashing.c)                                                                       */

typedef struct {
    uint32_t h[8];
    uint8_t buf[64];
    size_t fill;
    uint64_t total;
} Sha256;

void sha256_init(Sha256 *s);
void sha256_update(Sha256 *s, const uint8_t *p, size_t n);
void sha256_final(Sha256 *s, uint8_t out[32]);
void sha256d_finish(Sha256 *s, uint8_t out[32]);
void sha256d(const uint8_t *p, size_t n, uint8_t out[32]);
void sha256_choose(void);
extern const char *sha256_implementation;

/* ---------------------------------------------------------------------------------------- */
/* Undo records (undo.c)                                                                    */

#define MAX_MONEY 2100000000000000ULL

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

uint64_t decompress_amount(Cursor *c, uint64_t x);

/* A decoded CBlockUndo record (undo_decode): the values, where each transaction's begin, and
 * with a filter the hits, four words each (see pack_block_undo). */
typedef struct {
    uint64_t *starts, *values, *hits;
    uint64_t n_tx, n_hits;
} UndoDecoded;

const char *undo_decode(Cursor *c, const Filter *scripts, UndoDecoded *d);
int undo_decode_released(Py_buffer *view, const Filter *scripts, UndoDecoded *d);
void undo_free(UndoDecoded *d);
uint64_t undo_packed_words(const UndoDecoded *d, int with_hits);
void undo_pack(const UndoDecoded *d, int with_hits, uint8_t *w);

/* ---------------------------------------------------------------------------------------- */
/* The module's functions                                                                   */

PyObject *scan_block(PyObject *module, PyObject *args);
PyObject *scan_table(PyObject *module, PyObject *arg);
PyObject *merkle_root(PyObject *module, PyObject *arg);
PyObject *block_weight(PyObject *module, PyObject *arg);
PyObject *block_check(PyObject *module, PyObject *arg);
PyObject *parse_block_undo(PyObject *module, PyObject *arg);
PyObject *pack_block_undo(PyObject *module, PyObject *args);
PyObject *xor_at(PyObject *module, PyObject *args);
PyObject *step_txs(PyObject *module, PyObject *args);
PyObject *exchange_txs(PyObject *module, PyObject *args);

/* ---------------------------------------------------------------------------------------- */
/* Shared by the steps (step.c, exchange.c)                                                  */

/* 0 <= value <= MAX_MONEY, else ValueError naming `what` (TypeError when not an int). */
int money_from(PyObject *o, int64_t *out, const char *what, Py_ssize_t index);
/* An exact Python int of a 128-bit one. */
PyObject *int128_to_py(__int128 v);
/* A script as Core reads it back from ScriptCompression: kinds 0-3 rebuilt into `s` (35
 * bytes), a body over 10,000 bytes as OP_RETURN, any other kind's body as it is; its length
 * in *n. Kinds 4 and 5 (an uncompressed key) need the curve: the caller's. */
const uint8_t *undo_script(uint64_t kind, const uint8_t *body, Py_ssize_t len, uint8_t s[35],
                           Py_ssize_t *n);

static inline int long_cmp(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* floor(a / b) for b > 0, as Python's // does. */
static inline __int128 floor_div(__int128 a, __int128 b) {
    __int128 q = a / b;
    if ((a % b != 0) && (a < 0)) q -= 1;
    return q;
}
PyObject *undo_hits(PyObject *module, PyObject *args);
PyObject *undo_held(PyObject *module, PyObject *args);
PyObject *derive_candidates(PyObject *module, PyObject *args);
PyObject *decode_address(PyObject *module, PyObject *args);

#endif
