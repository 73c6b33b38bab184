/*
 * minerflow's compiled core, put together: the module's method table and its start. The
 * functions live in files of one responsibility each (see core.h), beside their pure-Python
 * twins; indexer/fastpath/reference.py gathers the twins, and the tests check both give
 * identical answers and identical indexes.
 */
#include "core.h"
#include "coinstore.h"

static PyMethodDef core_methods[] = {
    {"scan_block", scan_block, METH_VARARGS,
     "scan_block(data, pos, index, n_tx, coins, members) -> (index, pos) of the next "
     "transaction that spends a fingerprinted coin or pays a fingerprinted script; "
     "(n_tx, end of the last transaction) when none does."},
    {"parse_block_undo", parse_block_undo, METH_O,
     "The spent values of every non-coinbase transaction of a CBlockUndo record."},
    {"pack_block_undo", pack_block_undo, METH_VARARGS,
     "pack_block_undo(data, scripts=None) -> parse_block_undo's values packed as u64s: n_tx, "
     "n_tx + 1 starts, the values; with a filter, then the inputs it may hold (see undo.py)."},
    {"xor_at", xor_at, METH_VARARGS, "De-obfuscate bytes read at a file offset."},
    {"merkle_root", merkle_root, METH_O,
     "The merkle root (serialized order) of the txids of a whole serialized block."},
    {"block_weight", block_weight, METH_O,
     "BIP 141 weight of a whole serialized block: 3 x stripped size + total size."},
    {"block_check", block_check, METH_O,
     "(merkle_root, block_weight, scan_table) of a whole serialized block, from one walk."},
    {"step_txs", step_txs, METH_VARARGS,
     "step_txs(data, pos, index, n_tx, coins, members, view, exchanges, spent_values, state, "
     "table=None) -> end of the last transaction: SPEC 5 over a block's transactions after "
     "the coinbase (with `table`, scan_table's of the block, only the probes are left)."},
    {"exchange_txs", exchange_txs, METH_VARARGS,
     "exchange_txs(data, pos, index, n_tx, scripts, exchange_of, held, spent_values, sums, "
     "table=None) -> end of the last transaction: SPEC 5.1 over a block's transactions "
     "(see exchange.py)."},
    {"undo_hits", undo_hits, METH_VARARGS,
     "undo_hits(undo, scripts) -> [(tx index, input index, kind, data)] of the inputs whose "
     "spent script the filter may hold (see exchange.py)."},
    {"undo_held", undo_held, METH_VARARGS,
     "undo_held(packed, undo) -> undo_hits's answer from pack_block_undo(undo, scripts) "
     "(see exchange.py)."},
    {"derive_candidates", derive_candidates, METH_VARARGS,
     "derive_candidates(block, undo, core) -> [(index, tx start, undo start)] of the "
     "transactions a labels derive pass must look at (see labels.py)."},
    {"decode_address", decode_address, METH_VARARGS,
     "decode_address(text, hrp, p2pkh_prefix, p2sh_prefix) -> the output script the address "
     "names on that network, or None (see addresses.py)."},
    {"scan_table", scan_table, METH_O,
     "The block's transactions' starts and the fingerprints the step probes, walked ahead."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT, "indexer.fastpath._core",
    "minerflow's compiled core (see indexer/fastpath/reference.py for the reference).", -1,
    core_methods,
};

PyMODINIT_FUNC PyInit__core(void) {
    if (PyType_Ready(&FilterType) < 0) return NULL;
    sha256_choose();
    PyObject *m = PyModule_Create(&core_module);
    if (m == NULL) return NULL;
    if (coinstore_add(m) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    if (PyModule_AddStringConstant(m, "SHA256", sha256_implementation) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(&FilterType);
    if (PyModule_AddObject(m, "Filter", (PyObject *)&FilterType) < 0) {
        Py_DECREF(&FilterType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}

