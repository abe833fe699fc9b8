/* Compiled hot paths of the slow-log digest. Each function is an exact replacement for a Python
 * expression named in its comment (bot/slowlog/speedups.py holds those Python versions, and the
 * tests run both on the same inputs). Where exactness would need Unicode tables (a non-ASCII
 * character where a Python regex tests \w, \d or \s), a function returns None and the caller uses
 * the Python version: the compiled code only ever answers when it is sure.
 *
 * Written by hand because no maintained library does these exact jobs: the scan is a SIMD
 * substring search (SSE2, the x86-64 baseline; plain memmem elsewhere), the tokenizer follows two
 * regexes of bot/slowlog/parser.py, the skeleton one regex substitution of
 * bot/digest/fingerprint.py.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* ------------------------------------------------------------------------------- scanning */

/* First occurrence of needle (k >= 2 bytes) in h[0:n], or NULL. */
static const char *
find_needle(const char *h, Py_ssize_t n, const char *needle, Py_ssize_t k)
{
    if (k < 2 || n < k)
        return (k >= 1 && n >= k) ? memmem(h, (size_t)n, needle, (size_t)k) : NULL;
    Py_ssize_t i = 0;
#if defined(__SSE2__)
    /* W. Mula's "generic SIMD" search: 16 candidate positions at a time, keep those whose first
     * and last bytes match, then compare the middle. */
    const __m128i first = _mm_set1_epi8(needle[0]);
    const __m128i last = _mm_set1_epi8(needle[k - 1]);
    for (; i + k - 1 + 16 <= n; i += 16) {
        __m128i bf = _mm_loadu_si128((const __m128i *)(h + i));
        __m128i bl = _mm_loadu_si128((const __m128i *)(h + i + k - 1));
        unsigned mask = (unsigned)_mm_movemask_epi8(_mm_and_si128(_mm_cmpeq_epi8(first, bf),
                                                                 _mm_cmpeq_epi8(last, bl)));
        while (mask) {
            int bit = __builtin_ctz(mask);
            if (memcmp(h + i + bit + 1, needle + 1, (size_t)(k - 2)) == 0)
                return h + i + bit;
            mask &= mask - 1;
        }
    }
#endif
    if (n - i < k)
        return NULL;
    return memmem(h + i, (size_t)(n - i), needle, (size_t)k);
}

/* count_newlines(buf) -> int: buf.count(b"\n"). */
static PyObject *
count_newlines(PyObject *self, PyObject *arg)
{
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    const unsigned char *p = view.buf;
    Py_ssize_t n = view.len, i = 0, count = 0;
    Py_BEGIN_ALLOW_THREADS
#if defined(__SSE2__)
    /* Each matching byte subtracts -1 from a byte lane; after at most 255 rounds the lanes are
     * summed with one SAD against zero. */
    const __m128i nl = _mm_set1_epi8('\n'), zero = _mm_setzero_si128();
    while (i + 32 <= n) {
        __m128i a = zero, b = zero;
        for (int r = 0; r < 255 && i + 32 <= n; r++, i += 32) {
            a = _mm_sub_epi8(a, _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(p + i)), nl));
            b = _mm_sub_epi8(b, _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(p + i + 16)), nl));
        }
        __m128i sa = _mm_sad_epu8(a, zero), sb = _mm_sad_epu8(b, zero);
        count += _mm_cvtsi128_si32(sa) + _mm_extract_epi16(sa, 4) + _mm_cvtsi128_si32(sb) + _mm_extract_epi16(sb, 4);
    }
#endif
    for (; i < n; i++)
        count += p[i] == '\n';
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    return PyLong_FromSsize_t(count);
}

/* find_lines(buf, start, end, needle, max_line) -> (lines, overlong)
 *
 * The lines of buf[start:end] (buf[end] is a newline) that contain needle, as bytes without their
 * newline, in order; lines longer than max_line are counted in overlong instead. The same as
 * parser._candidates over the Python search. */
static PyObject *
find_lines(PyObject *self, PyObject *args)
{
    Py_buffer view, nview;
    Py_ssize_t start, end, max_line;
    if (!PyArg_ParseTuple(args, "y*nny*n", &view, &start, &end, &nview, &max_line))
        return NULL;
    PyObject *lines = NULL, *result = NULL;
    const char *buf = view.buf, *needle = nview.buf;
    Py_ssize_t k = nview.len, overlong = 0;
    if (start < 0 || end >= view.len || start > end + 1 || k < 1) {
        PyErr_SetString(PyExc_ValueError, "find_lines: bad range or empty needle");
        goto done;
    }
    lines = PyList_New(0);
    if (lines == NULL)
        goto done;
    Py_ssize_t pos = start;
    while (end - pos >= k) {
        const char *hit = find_needle(buf + pos, end - pos, needle, k);
        if (hit == NULL)
            break;
        Py_ssize_t i = hit - buf;
        Py_ssize_t ls = i;
        while (ls > start && buf[ls - 1] != '\n')
            ls--;
        const char *ne = memchr(buf + i, '\n', (size_t)(end + 1 - i));
        Py_ssize_t le = ne ? ne - buf : end;
        if (le - ls > max_line) {
            overlong++;
        } else {
            PyObject *line = PyBytes_FromStringAndSize(buf + ls, le - ls);
            if (line == NULL || PyList_Append(lines, line) < 0) {
                Py_XDECREF(line);
                goto done;
            }
            Py_DECREF(line);
        }
        pos = le + 1;
    }
    result = Py_BuildValue("On", lines, overlong);
done:
    Py_XDECREF(lines);
    PyBuffer_Release(&view);
    PyBuffer_Release(&nview);
    return result;
}

/* ------------------------------------------------------------------------------- tokenizing */

/* A zap-quoted value at s[p] (s[p] == '"'): the regex "[^"\\]*+(?:\\.[^"\\]*+)*+" -> the index
 * after its closing quote, or -1. `.` is any character but a newline. */
static Py_ssize_t
match_quoted(const unsigned char *s, Py_ssize_t p, Py_ssize_t n, unsigned char q)
{
    p++;
    for (;;) {
        while (p < n && s[p] != q && s[p] != '\\')
            p++;
        if (p >= n)
            return -1;
        if (s[p] == q)
            return p + 1;
        if (p + 1 >= n || s[p + 1] == '\n')
            return -1;
        p += 2; /* a backslash and the byte it escapes; the rest of a UTF-8 sequence is ordinary */
    }
}

static PyObject *
decode(const unsigned char *s, Py_ssize_t a, Py_ssize_t b)
{
    return PyUnicode_DecodeUTF8((const char *)s + a, b - a, "replace");
}

/* Expects the three bytes "] [" at s[p]. */
static int
sep(const unsigned char *s, Py_ssize_t p, Py_ssize_t n)
{
    return p + 2 < n && s[p] == ']' && s[p + 1] == ' ' && s[p + 2] == '[';
}

static int
key_byte(unsigned char c)
{
    return c != '=' && c != ']' && c != '"' && c != '[' && c != ' ';
}

/* text_values(line: bytes, names: tuple[bytes, ...]) -> (time, message, values) | None
 *
 * For a text-format line whose first byte is '[' and last byte is ']', exactly
 *     s = line.decode("utf-8", "replace"); m = _HEADER.match(s); f = dict(_FIELD.findall(s, m.end()))
 *     (m.group(1), m.group(4), tuple(f.get(name) for name in names))
 * of bot/slowlog/parser.py (names decoded). None when the header does not match or the line does
 * not start and end that way (the Python path then decides, raising MalformedLine where it must).
 * Working on bytes gives the same pieces as decoding first: every delimiter is ASCII, and ASCII
 * bytes never occur inside a UTF-8 sequence or inside a run the decoder replaces. Only the values
 * of the names asked for are decoded: a slow line has a dozen fields nobody reads. */
static PyObject *
text_values(PyObject *self, PyObject *args)
{
    PyObject *line, *names;
    if (!PyArg_ParseTuple(args, "SO!", &line, &PyTuple_Type, &names))
        return NULL;
    Py_ssize_t n = PyBytes_GET_SIZE(line), nn = PyTuple_GET_SIZE(names);
    const unsigned char *s = (const unsigned char *)PyBytes_AS_STRING(line);
    for (Py_ssize_t j = 0; j < nn; j++) {
        if (!PyBytes_Check(PyTuple_GET_ITEM(names, j))) {
            PyErr_SetString(PyExc_TypeError, "text_values: names must be bytes");
            return NULL;
        }
    }
    if (n < 2 || s[0] != '[' || s[n - 1] != ']')
        Py_RETURN_NONE;
    /* _HEADER: \[([^\]]*+)\] \[([A-Z]++)\] \[([^\]]*+)\] \[("...")\] */
    Py_ssize_t p = 1, g1a = 1, g1b, g4a, g4b;
    while (p < n && s[p] != ']')
        p++;
    g1b = p;
    if (!sep(s, p, n))
        Py_RETURN_NONE;
    p += 3;
    Py_ssize_t g2a = p;
    while (p < n && s[p] >= 'A' && s[p] <= 'Z')
        p++;
    if (p == g2a || !sep(s, p, n))
        Py_RETURN_NONE;
    p += 3;
    while (p < n && s[p] != ']')
        p++;
    if (!sep(s, p, n))
        Py_RETURN_NONE;
    p += 3;
    if (p >= n || s[p] != '"')
        Py_RETURN_NONE;
    g4a = p;
    g4b = match_quoted(s, p, n, '"');
    if (g4b < 0 || g4b >= n || s[g4b] != ']')
        Py_RETURN_NONE;
    p = g4b + 1;

    PyObject *values = PyTuple_New(nn);
    if (values == NULL)
        return NULL;
    /* _FIELD.findall: \ \[([^=\]"\[ ]++|"...")=("..."|[^\]]*+)\] at every position, left to right;
     * a later field of the same name wins, as in dict(). */
    while (p + 1 < n) {
        if (s[p] != ' ' || s[p + 1] != '[') {
            p++;
            continue;
        }
        Py_ssize_t ka = p + 2, ke;
        if (ka < n && s[ka] == '"') {
            ke = match_quoted(s, ka, n, '"');
        } else {
            ke = ka;
            while (ke < n && key_byte(s[ke]))
                ke++;
            if (ke == ka)
                ke = -1;
        }
        if (ke < 0 || ke >= n || s[ke] != '=') {
            p++;
            continue;
        }
        Py_ssize_t va = ke + 1, vb = -1;
        if (va < n && s[va] == '"') {
            Py_ssize_t qe = match_quoted(s, va, n, '"');
            if (qe >= 0 && qe < n && s[qe] == ']')
                vb = qe;
        }
        if (vb < 0) {
            Py_ssize_t r = va;
            while (r < n && s[r] != ']')
                r++;
            if (r < n)
                vb = r;
        }
        if (vb < 0) {
            p++;
            continue;
        }
        for (Py_ssize_t j = 0; j < nn; j++) {
            PyObject *name = PyTuple_GET_ITEM(names, j);
            if (PyBytes_GET_SIZE(name) == ke - ka && memcmp(PyBytes_AS_STRING(name), s + ka, (size_t)(ke - ka)) == 0) {
                PyObject *v = decode(s, va, vb);
                if (v == NULL) {
                    Py_DECREF(values);
                    return NULL;
                }
                PyObject *old = PyTuple_GET_ITEM(values, j);
                PyTuple_SET_ITEM(values, j, v);
                Py_XDECREF(old);
                break;
            }
        }
        p = vb + 1;
    }
    for (Py_ssize_t j = 0; j < nn; j++) {
        if (PyTuple_GET_ITEM(values, j) == NULL) {
            Py_INCREF(Py_None);
            PyTuple_SET_ITEM(values, j, Py_None);
        }
    }
    PyObject *t = decode(s, g1a, g1b), *msg = decode(s, g4a, g4b);
    if (t == NULL || msg == NULL) {
        Py_XDECREF(t);
        Py_XDECREF(msg);
        Py_DECREF(values);
        return NULL;
    }
    return Py_BuildValue("NNN", t, msg, values);
}

/* ------------------------------------------------------------------------------- skeleton */

#define BAIL (-2)

static int
is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int
is_word(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

/* What Python's \s matches among ASCII characters in a str pattern. */
static int
is_space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
}

/* A run of ASCII digits from j; BAIL if a non-ASCII character follows it (it could be a Unicode
 * digit that Python's \d would take). */
static Py_ssize_t
digits(const unsigned char *s, Py_ssize_t j, Py_ssize_t n)
{
    while (j < n && is_digit(s[j]))
        j++;
    return (j < n && s[j] >= 0x80) ? BAIL : j;
}

/* _NUM at s[i]: 0[xX][0-9a-fA-F]+|0[bB][01]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?
 * -> the end of the match, -1 for none, BAIL when Unicode digits would matter. */
static Py_ssize_t
match_number(const unsigned char *s, Py_ssize_t i, Py_ssize_t n)
{
    if (s[i] == '0' && i + 1 < n) {
        Py_ssize_t j = i + 2;
        if (s[i + 1] == 'x' || s[i + 1] == 'X') {
            while (j < n && (is_digit(s[j]) || ((s[j] | 0x20) >= 'a' && (s[j] | 0x20) <= 'f')))
                j++;
            if (j > i + 2)
                return j;
        } else if (s[i + 1] == 'b' || s[i + 1] == 'B') {
            while (j < n && (s[j] == '0' || s[j] == '1'))
                j++;
            if (j > i + 2)
                return j;
        }
    }
    Py_ssize_t j;
    if (is_digit(s[i])) {
        j = digits(s, i, n);
        if (j == BAIL)
            return BAIL;
        if (j < n && s[j] == '.') {
            j = digits(s, j + 1, n);
            if (j == BAIL)
                return BAIL;
        }
    } else { /* '.' */
        if (i + 1 < n && s[i + 1] >= 0x80)
            return BAIL;
        if (i + 1 >= n || !is_digit(s[i + 1]))
            return -1;
        j = digits(s, i + 1, n);
        if (j == BAIL)
            return BAIL;
    }
    if (j < n && (s[j] == 'e' || s[j] == 'E')) {
        Py_ssize_t e = j + 1;
        if (e < n && (s[e] == '+' || s[e] == '-'))
            e++;
        if (e < n && s[e] >= 0x80)
            return BAIL;
        if (e < n && is_digit(s[e])) {
            e = digits(s, e, n);
            if (e == BAIL)
                return BAIL;
            j = e;
        }
    }
    return j;
}

/* Whitespace for \s from j; BAIL on a non-ASCII character (Python's \s knows Unicode spaces). */
static Py_ssize_t
spaces(const unsigned char *s, Py_ssize_t j, Py_ssize_t n)
{
    while (j < n && is_space(s[j]))
        j++;
    return (j < n && s[j] >= 0x80) ? BAIL : j;
}

/* _BLANK_LIST at s[i] == '[': \[\s*\?(?:\s*,\s*\?)*\s*,?\s*\] -> end, -1 or BAIL. Greedy matching
 * is exact here: giving back a repetition can never let the rest match. */
static Py_ssize_t
match_blank_list(const unsigned char *s, Py_ssize_t i, Py_ssize_t n)
{
    Py_ssize_t j = spaces(s, i + 1, n);
    if (j == BAIL)
        return BAIL;
    if (j >= n || s[j] != '?')
        return -1;
    j++;
    for (;;) {
        Py_ssize_t t = spaces(s, j, n);
        if (t == BAIL)
            return BAIL;
        if (t >= n || s[t] != ',')
            break;
        t = spaces(s, t + 1, n);
        if (t == BAIL)
            return BAIL;
        if (t >= n || s[t] != '?')
            break;
        j = t + 1;
    }
    j = spaces(s, j, n);
    if (j == BAIL)
        return BAIL;
    if (j < n && s[j] == ',') {
        j = spaces(s, j + 1, n);
        if (j == BAIL)
            return BAIL;
    }
    return (j < n && s[j] == ']') ? j + 1 : -1;
}

/* skeleton(expr: str) -> str | None
 *
 * Exactly _BLANK.sub("?", expr), then _BLANK_LIST.sub("[?+]", ...) of bot/digest/fingerprint.py;
 * None where a non-ASCII character stands where those regexes test \w, \d or \s. */
static PyObject *
skeleton(PyObject *self, PyObject *arg)
{
    Py_ssize_t n;
    const unsigned char *s = (const unsigned char *)PyUnicode_AsUTF8AndSize(arg, &n);
    if (s == NULL) { /* lone surrogates: no UTF-8 form; the Python path copes */
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    unsigned char *out = PyMem_Malloc((size_t)n + 1);
    if (out == NULL)
        return PyErr_NoMemory();
    Py_ssize_t o = 0, i = 0;
    int has_bracket = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c == '"' || c == '\'') {
            Py_ssize_t e = match_quoted(s, i, n, c);
            if (e >= 0) {
                out[o++] = '?';
                i = e;
                continue;
            }
        } else if (is_digit(c) || c == '.') {
            unsigned char pc = i > 0 ? s[i - 1] : ' ';
            if (pc >= 0x80)
                goto bail; /* is it a Unicode \w? */
            if (!(is_word(pc) || pc == '$' || pc == '.')) {
                Py_ssize_t e = match_number(s, i, n);
                if (e == BAIL)
                    goto bail;
                if (e >= 0) {
                    out[o++] = '?';
                    i = e;
                    continue;
                }
            }
        }
        has_bracket |= c == '[';
        out[o++] = c;
        i++;
    }
    if (has_bracket) { /* collapse lists of blanks: `[?]` (3 bytes) grows to `[?+]`, so a new buffer */
        unsigned char *out2 = PyMem_Malloc((size_t)o * 2 + 4);
        if (out2 == NULL) {
            PyMem_Free(out);
            return PyErr_NoMemory();
        }
        Py_ssize_t w = 0;
        i = 0;
        while (i < o) {
            if (out[i] == '[') {
                Py_ssize_t e = match_blank_list(out, i, o);
                if (e == BAIL) {
                    PyMem_Free(out2);
                    goto bail;
                }
                if (e >= 0) {
                    memcpy(out2 + w, "[?+]", 4);
                    w += 4;
                    i = e;
                    continue;
                }
            }
            out2[w++] = out[i++];
        }
        PyMem_Free(out);
        out = out2;
        o = w;
    }
    PyObject *result = PyUnicode_DecodeUTF8((const char *)out, o, "strict");
    PyMem_Free(out);
    return result;
bail:
    PyMem_Free(out);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"count_newlines", count_newlines, METH_O, "buf.count(b'\\n')"},
    {"find_lines", find_lines, METH_VARARGS, "lines of buf[start:end] that contain needle"},
    {"text_values", text_values, METH_VARARGS, "a text-format slow line's header and named field values"},
    {"skeleton", skeleton, METH_O, "a filter with its literals blanked (the fingerprint cache key)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_speedups", NULL, -1, methods};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModule_Create(&module);
}
