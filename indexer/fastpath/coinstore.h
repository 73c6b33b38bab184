/* The coin store's compiled loops (coinstore.c), added to the _core module at its start. */
#ifndef MINERFLOW_COINSTORE_H
#define MINERFLOW_COINSTORE_H

#include <Python.h>

/* Adds get_coin and put_coins to `module`: 0, or -1 with an exception set. */
int coinstore_add(PyObject *module);

#endif
