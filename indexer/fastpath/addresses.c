/* decode_address: the output script an address names (base58check, bech32, bech32m).
 * Twin: addresses.py (which reads the address with indexer/parse/script.py's script_for). */
#include "core.h"

#define MAX_ADDRESS 90   /* bech32's limit; a base58check address of 25 bytes takes at most 60 */
#define B58_BYTES 25     /* version byte, 20-byte hash, 4-byte checksum */

static const char B58[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
static const char BECH32[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
static const uint32_t BECH32_CONST = 1, BECH32M_CONST = 0x2BC830A3;
static const char *const SEGWIT_HRPS[] = {"bc", "tb", "bcrt"};

static int digit_of(const char *alphabet, uint8_t c) {
    const char *at = c ? strchr(alphabet, c) : NULL;
    return at ? (int)(at - alphabet) : -1;
}

static uint8_t lower(uint8_t c) { return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c; }

static uint32_t polymod_step(uint32_t chk, uint32_t v) {
    static const uint32_t GEN[5] = {0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3};
    uint32_t top = chk >> 25;
    chk = ((chk & 0x1FFFFFF) << 5) ^ v;
    for (int i = 0; i < 5; i++)
        if ((top >> i) & 1) chk ^= GEN[i];
    return chk;
}

/* The script of a segwit address `a` (n bytes, ASCII) whose prefix before position `sep` is
 * `hrp` (already matched, lower case); 0 when it is not a valid one. */
static Py_ssize_t segwit_script(const uint8_t *a, Py_ssize_t n, Py_ssize_t sep, uint8_t *out) {
    int has_lower = 0, has_upper = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        has_lower |= a[i] >= 'a' && a[i] <= 'z';
        has_upper |= a[i] >= 'A' && a[i] <= 'Z';
    }
    Py_ssize_t n_data = n - sep - 1;
    if ((has_lower && has_upper) || n > MAX_ADDRESS || n_data < 6) return 0;
    uint8_t data[MAX_ADDRESS];
    uint32_t chk = 1;
    for (Py_ssize_t i = 0; i < sep; i++) chk = polymod_step(chk, lower(a[i]) >> 5);
    chk = polymod_step(chk, 0);
    for (Py_ssize_t i = 0; i < sep; i++) chk = polymod_step(chk, lower(a[i]) & 31);
    for (Py_ssize_t i = 0; i < n_data; i++) {
        int d = digit_of(BECH32, lower(a[sep + 1 + i]));
        if (d < 0) return 0;
        data[i] = (uint8_t)d;
        chk = polymod_step(chk, (uint32_t)d);
    }
    if (chk != BECH32_CONST && chk != BECH32M_CONST) return 0;
    uint8_t version = data[0];
    uint32_t acc = 0;
    int bits = 0;
    Py_ssize_t len = 0;
    for (Py_ssize_t i = 1; i < n_data - 6; i++) {
        acc = ((acc << 5) | data[i]) & 0xFFF;
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            if (len >= 40) return 0;  /* longer than any witness program */
            out[2 + len++] = (uint8_t)(acc >> bits);
        }
    }
    if (bits >= 5 || ((acc << (8 - bits)) & 0xFF)) return 0;  /* BIP 173 padding */
    if (version > 16 || len < 2) return 0;
    if (version == 0 && len != 20 && len != 32) return 0;
    if ((version == 0) != (chk == BECH32_CONST)) return 0;
    out[0] = version == 0 ? 0 : (uint8_t)(0x50 + version);
    out[1] = (uint8_t)len;
    return 2 + len;
}

/* The script of a base58check address: 25 bytes once decoded (leading "1"s are zero bytes),
 * a valid checksum and one of the two version bytes; 0 otherwise. */
static Py_ssize_t base58_script(const uint8_t *a, Py_ssize_t n, int p2pkh, int p2sh,
                                uint8_t *out) {
    uint8_t num[B58_BYTES] = {0};
    Py_ssize_t pad = 0;
    while (pad < n && a[pad] == '1') pad++;
    for (Py_ssize_t i = 0; i < n; i++) {
        int d = digit_of(B58, a[i]);
        if (d < 0) return 0;
        uint32_t carry = (uint32_t)d;
        for (int k = B58_BYTES - 1; k >= 0; k--) {
            carry += 58u * num[k];
            num[k] = (uint8_t)carry;
            carry >>= 8;
        }
        if (carry) return 0;  /* more than 25 bytes */
    }
    Py_ssize_t zeros = 0;
    while (zeros < B58_BYTES && num[zeros] == 0) zeros++;
    if (pad + (B58_BYTES - zeros) != B58_BYTES) return 0;  /* not 25 bytes in all */
    uint8_t check[32];
    sha256d(num, 21, check);
    if (memcmp(check, num + 21, 4) != 0) return 0;
    if (num[0] == p2pkh) {
        memcpy(out, "\x76\xa9\x14", 3);
        memcpy(out + 3, num + 1, 20);
        memcpy(out + 23, "\x88\xac", 2);
        return 25;
    }
    if (num[0] == p2sh) {
        memcpy(out, "\xa9\x14", 2);
        memcpy(out + 2, num + 1, 20);
        out[22] = 0x87;
        return 23;
    }
    return 0;
}

static int version_byte(int value) {
    if (value < 0 || value > 255) {
        PyErr_Format(PyExc_ValueError, "version byte %d is not a byte", value);
        return -1;
    }
    return value;
}

PyObject *decode_address(PyObject *module, PyObject *args) {
    (void)module;
    Py_buffer tv, hv;
    int p2pkh, p2sh;
    if (!PyArg_ParseTuple(args, "y*y*ii", &tv, &hv, &p2pkh, &p2sh)) return NULL;
    PyObject *result = NULL;
    if (version_byte(p2pkh) < 0 || version_byte(p2sh) < 0) goto done;
    const uint8_t *a = tv.buf;
    Py_ssize_t n = tv.len;
    uint8_t script[42];
    Py_ssize_t made = 0;
    int ascii = n <= MAX_ADDRESS;
    for (Py_ssize_t i = 0; ascii && i < n; i++) ascii = a[i] < 0x80;
    if (ascii && n > 0) {
        Py_ssize_t sep = n - 1;
        while (sep >= 0 && a[sep] != '1') sep--;
        int segwit = 0;
        for (size_t k = 0; sep > 0 && k < sizeof SEGWIT_HRPS / sizeof SEGWIT_HRPS[0]; k++) {
            Py_ssize_t len = (Py_ssize_t)strlen(SEGWIT_HRPS[k]), i = 0;
            while (i < len && i < sep && lower(a[i]) == (uint8_t)SEGWIT_HRPS[k][i]) i++;
            segwit |= i == len && len == sep;
        }
        if (segwit) {
            int ours = hv.len == sep;
            for (Py_ssize_t i = 0; ours && i < sep; i++)
                ours = lower(a[i]) == ((const uint8_t *)hv.buf)[i];
            if (ours) made = segwit_script(a, n, sep, script);
        } else {
            made = base58_script(a, n, p2pkh, p2sh, script);
        }
    }
    if (made > 0) {
        result = PyBytes_FromStringAndSize((const char *)script, made);
    } else {
        Py_INCREF(Py_None);
        result = Py_None;
    }
done:
    PyBuffer_Release(&tv);
    PyBuffer_Release(&hv);
    return result;
}
