/*
 * logpipe.formats._combined: the envelope of a plain combined-format line in one call.
 *
 * Why: parsing a line and encoding its envelope in Python costs about 6 us a line, a
 * third of what logs2kafka spends on it. This module does both for the common line in a
 * fraction of that, and returns the very bytes LineParser.parse + envelope.encode give.
 *
 * It takes only lines it can be sure of: printable ASCII with no backslash, a request
 * that splits into method, path and protocol, a date that exists, nothing after the user
 * agent. For any other line it returns None and the caller uses the Python parser, which
 * stays the reference (a property test checks that both give the same bytes).
 *
 * envelope(head: bytes, max_line_bytes: int, line: bytes, line_id: str | None)
 *     -> tuple[bytes, str] | None
 *
 * ``head`` is the envelope's start up to the datetime's opening quote
 * (``{"log":{"source":"...","type":"...","datetime":"``), encoded once by the caller.
 * The result is (the message, the line's ISO 8601 time). The line comes third so that
 * ``functools.partial(envelope, head, max_line_bytes)`` serves one parser.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

typedef struct {
    const char *p;
    Py_ssize_t n;
} span;

static const char *const MONTHS[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_upper(char c) { return c >= 'A' && c <= 'Z'; }
static int is_lower(char c) { return c >= 'a' && c <= 'z'; }

/* A maximal run of non-space characters starting at *i (at least one). */
static int take_token(const char *s, Py_ssize_t n, Py_ssize_t *i, span *out) {
    Py_ssize_t start = *i;
    while (*i < n && s[*i] != ' ') (*i)++;
    if (*i == start) return 0;
    out->p = s + start;
    out->n = *i - start;
    return 1;
}

static Py_ssize_t skip_spaces(const char *s, Py_ssize_t n, Py_ssize_t i) {
    while (i < n && s[i] == ' ') i++;
    return i;
}

/* ``[^"]*"``: the text up to the next quote, which must exist. */
static int take_quoted(const char *s, Py_ssize_t n, Py_ssize_t *i, span *out) {
    const char *q = memchr(s + *i, '"', (size_t)(n - *i));
    if (q == NULL) return 0;
    out->p = s + *i;
    out->n = q - (s + *i);
    *i = (q - s) + 1;
    return 1;
}

static int days_in_month(int year, int month) {
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month == 2 && ((year % 4 == 0 && year % 100 != 0) || year % 400 == 0)) return 29;
    return days[month - 1];
}

/* ``dd/Mon/yyyy:HH:MM:SS +zzzz`` (26 characters) -> ``yyyy-mm-ddTHH:MM:SS+zz:zz``
 * (25 characters), or 0 when it is not in that form or the date does not exist. */
static int clf_time(const char *t, char *iso) {
    /* dd/Mon/yyyy:HH:MM:SS +zzzz */
    if (!(is_digit(t[0]) && is_digit(t[1]) && t[2] == '/' && is_upper(t[3]) &&
          is_lower(t[4]) && is_lower(t[5]) && t[6] == '/' && is_digit(t[7]) &&
          is_digit(t[8]) && is_digit(t[9]) && is_digit(t[10]) && t[11] == ':'))
        return 0;
    /* hours (?:[01]\d|2[0-3]), minutes and seconds [0-5]\d */
    if (!(((t[12] == '0' || t[12] == '1') && is_digit(t[13])) ||
          (t[12] == '2' && t[13] >= '0' && t[13] <= '3')))
        return 0;
    if (!(t[14] == ':' && t[15] >= '0' && t[15] <= '5' && is_digit(t[16]) && t[17] == ':' &&
          t[18] >= '0' && t[18] <= '5' && is_digit(t[19]) && t[20] == ' '))
        return 0;
    if (!((t[21] == '+' || t[21] == '-') &&
          (((t[22] == '0' || t[22] == '1') && is_digit(t[23])) ||
           (t[22] == '2' && t[23] >= '0' && t[23] <= '3')) &&
          t[24] >= '0' && t[24] <= '5' && is_digit(t[25])))
        return 0;
    int month = 0;
    for (int m = 0; m < 12; m++) {
        if (memcmp(t + 3, MONTHS[m], 3) == 0) {
            month = m + 1;
            break;
        }
    }
    if (month == 0) return 0;
    int year = (t[7] - '0') * 1000 + (t[8] - '0') * 100 + (t[9] - '0') * 10 + (t[10] - '0');
    int day = (t[0] - '0') * 10 + (t[1] - '0');
    if (year < 1 || day < 1 || day > days_in_month(year, month)) return 0;
    memcpy(iso, t + 7, 4);
    iso[4] = '-';
    iso[5] = (char)('0' + month / 10);
    iso[6] = (char)('0' + month % 10);
    iso[7] = '-';
    iso[8] = t[0];
    iso[9] = t[1];
    iso[10] = 'T';
    memcpy(iso + 11, t + 12, 8);
    memcpy(iso + 19, t + 21, 3);
    iso[22] = ':';
    memcpy(iso + 23, t + 24, 2);
    return 1;
}

/* ``[A-Z]{1,20} \S+ HTTP/\d\.\d`` exactly, split into its three parts. */
static int split_request(span req, span *method, span *path, span *protocol) {
    const char *s = req.p;
    Py_ssize_t n = req.n, i = 0;
    while (i < n && is_upper(s[i])) i++;
    if (i == 0 || i > 20 || i >= n || s[i] != ' ') return 0;
    method->p = s;
    method->n = i;
    i++;
    if (!take_token(s, n, &i, path)) return 0;
    if (n - i != 9 || memcmp(s + i, " HTTP/", 6) != 0 || !is_digit(s[i + 6]) ||
        s[i + 7] != '.' || !is_digit(s[i + 8]))
        return 0;
    protocol->p = s + i + 1;
    protocol->n = 8;
    return 1;
}

/* ``\d{3}|-`` or ``\d{1,18}|-`` as an integer; -1 for ``-``, -2 when neither. */
static long long number(span v, Py_ssize_t min_digits, Py_ssize_t max_digits) {
    if (v.n == 1 && v.p[0] == '-') return -1;
    if (v.n < min_digits || v.n > max_digits) return -2;
    long long value = 0;
    for (Py_ssize_t k = 0; k < v.n; k++) {
        if (!is_digit(v.p[k])) return -2;
        value = value * 10 + (v.p[k] - '0');
    }
    return value;
}

typedef struct {
    char *out;
} writer;

static void put(writer *w, const char *s, Py_ssize_t n) {
    memcpy(w->out, s, (size_t)n);
    w->out += n;
}

#define PUT_LITERAL(w, lit) put((w), (lit), (Py_ssize_t)(sizeof(lit) - 1))

/* A JSON string's contents: the input is printable ASCII without a backslash, so the
 * quote is the only character JSON needs escaped. */
static void put_escaped(writer *w, span v) {
    const char *s = v.p, *end = v.p + v.n;
    while (s < end) {
        const char *q = memchr(s, '"', (size_t)(end - s));
        if (q == NULL) {
            put(w, s, end - s);
            return;
        }
        put(w, s, q - s);
        PUT_LITERAL(w, "\\\"");
        s = q + 1;
    }
}

static void put_string_or_null(writer *w, span v) {
    if (v.n == 1 && v.p[0] == '-') {
        PUT_LITERAL(w, "null");
        return;
    }
    PUT_LITERAL(w, "\"");
    put_escaped(w, v);
    PUT_LITERAL(w, "\"");
}

static void put_number_or_null(writer *w, long long v) {
    if (v < 0) {
        PUT_LITERAL(w, "null");
        return;
    }
    char digits[24];
    int k = snprintf(digits, sizeof digits, "%lld", v);
    put(w, digits, k);
}

static PyObject *envelope(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "envelope(head, max_line_bytes, line, line_id)");
        return NULL;
    }
    if (!PyBytes_Check(args[0]) || !PyBytes_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "head and line must be bytes");
        return NULL;
    }
    Py_ssize_t max_line_bytes = PyLong_AsSsize_t(args[1]);
    if (max_line_bytes == -1 && PyErr_Occurred()) return NULL;
    const char *id = NULL;
    Py_ssize_t id_n = 0;
    if (args[3] != Py_None) {
        if (!PyUnicode_Check(args[3])) {
            PyErr_SetString(PyExc_TypeError, "line_id must be a str or None");
            return NULL;
        }
        if (!PyUnicode_IS_ASCII(args[3])) Py_RETURN_NONE;
        id = (const char *)PyUnicode_DATA(args[3]);
        id_n = PyUnicode_GET_LENGTH(args[3]);
        for (Py_ssize_t k = 0; k < id_n; k++) {
            if (id[k] < 0x20 || id[k] > 0x7e || id[k] == '"' || id[k] == '\\') Py_RETURN_NONE;
        }
    }

    const char *s = PyBytes_AS_STRING(args[2]);
    Py_ssize_t n = PyBytes_GET_SIZE(args[2]);
    if (n > 0 && s[n - 1] == '\n') n--;
    if (n > 0 && s[n - 1] == '\r') n--;
    if (n == 0 || n > max_line_bytes) Py_RETURN_NONE;
    Py_ssize_t quotes = 0;
    for (Py_ssize_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)s[k];
        if (c < 0x20 || c > 0x7e || c == '\\') Py_RETURN_NONE;
        quotes += (c == '"');
    }

    /* (\S+) +(\S+) +(\S+) +\[time\] *"request" *(\d{3}|-) +(\d{1,18}|-) *"referer" *"agent"\s* */
    span host, ident, user, request, status_s, bytes_s, referer, agent, method, path, protocol;
    Py_ssize_t i = 0;
    if (!take_token(s, n, &i, &host)) Py_RETURN_NONE;
    if ((i = skip_spaces(s, n, i)) == host.n) Py_RETURN_NONE;
    Py_ssize_t mark = i;
    if (!take_token(s, n, &i, &ident)) Py_RETURN_NONE;
    if ((i = skip_spaces(s, n, i)) == mark + ident.n) Py_RETURN_NONE;
    mark = i;
    if (!take_token(s, n, &i, &user)) Py_RETURN_NONE;
    if ((i = skip_spaces(s, n, i)) == mark + user.n) Py_RETURN_NONE;
    if (n - i < 28 || s[i] != '[' || s[i + 27] != ']') Py_RETURN_NONE;
    char iso[25];
    if (!clf_time(s + i + 1, iso)) Py_RETURN_NONE;
    i = skip_spaces(s, n, i + 28);
    if (i >= n || s[i] != '"') Py_RETURN_NONE;
    i++;
    if (!take_quoted(s, n, &i, &request)) Py_RETURN_NONE;
    if (!split_request(request, &method, &path, &protocol)) Py_RETURN_NONE;
    i = skip_spaces(s, n, i);
    if (!take_token(s, n, &i, &status_s)) Py_RETURN_NONE;
    mark = i;
    if ((i = skip_spaces(s, n, i)) == mark) Py_RETURN_NONE;
    /* the size runs to the spaces or the quote after it */
    Py_ssize_t start = i;
    while (i < n && s[i] != ' ' && s[i] != '"') i++;
    bytes_s.p = s + start;
    bytes_s.n = i - start;
    i = skip_spaces(s, n, i);
    if (i >= n || s[i] != '"') Py_RETURN_NONE;
    i++;
    if (!take_quoted(s, n, &i, &referer)) Py_RETURN_NONE;
    i = skip_spaces(s, n, i);
    if (i >= n || s[i] != '"') Py_RETURN_NONE;
    i++;
    if (!take_quoted(s, n, &i, &agent)) Py_RETURN_NONE;
    if (skip_spaces(s, n, i) != n) Py_RETURN_NONE; /* something after the agent */
    long long status = number(status_s, 3, 3);
    long long size = number(bytes_s, 1, 18);
    if (status == -2 || size == -2) Py_RETURN_NONE;

    const char *head = PyBytes_AS_STRING(args[0]);
    Py_ssize_t head_n = PyBytes_GET_SIZE(args[0]);
    /* every value is a piece of the line, each quote of which may become two characters */
    Py_ssize_t bound = head_n + 2 * (n + quotes) + id_n + 400;
    PyObject *value = PyBytes_FromStringAndSize(NULL, bound);
    if (value == NULL) return NULL;
    writer w = {PyBytes_AS_STRING(value)};
    put(&w, head, head_n);
    put(&w, iso, 25);
    PUT_LITERAL(&w, "\",\"log\":\"");
    put_escaped(&w, (span){s, n});
    PUT_LITERAL(&w, "\",\"fields\":{\"remote_host\":");
    put_string_or_null(&w, host);
    PUT_LITERAL(&w, ",\"ident\":");
    put_string_or_null(&w, ident);
    PUT_LITERAL(&w, ",\"remote_user\":");
    put_string_or_null(&w, user);
    PUT_LITERAL(&w, ",\"method\":\"");
    put(&w, method.p, method.n);
    PUT_LITERAL(&w, "\",\"path\":\"");
    put(&w, path.p, path.n); /* inside the request's quotes: no quote of its own */
    PUT_LITERAL(&w, "\",\"protocol\":\"");
    put(&w, protocol.p, protocol.n);
    PUT_LITERAL(&w, "\",\"status\":");
    put_number_or_null(&w, status);
    PUT_LITERAL(&w, ",\"bytes\":");
    put_number_or_null(&w, size);
    PUT_LITERAL(&w, ",\"referer\":");
    put_string_or_null(&w, referer);
    PUT_LITERAL(&w, ",\"user_agent\":");
    put_string_or_null(&w, agent);
    PUT_LITERAL(&w, "}");
    if (id != NULL) {
        PUT_LITERAL(&w, ",\"id\":\"");
        put(&w, id, id_n);
        PUT_LITERAL(&w, "\"");
    }
    PUT_LITERAL(&w, "}}");
    if (_PyBytes_Resize(&value, w.out - PyBytes_AS_STRING(value)) < 0) return NULL;
    PyObject *when = PyUnicode_FromStringAndSize(iso, 25);
    if (when == NULL) {
        Py_DECREF(value);
        return NULL;
    }
    PyObject *result = PyTuple_Pack(2, value, when);
    Py_DECREF(value);
    Py_DECREF(when);
    return result;
}

static PyMethodDef methods[] = {
    {"envelope", (PyCFunction)(void (*)(void))envelope, METH_FASTCALL,
     "envelope(head, max_line_bytes, line, line_id) -> (message, datetime) or None"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "logpipe.formats._combined",
    "The envelope of a plain combined-format line in one call.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__combined(void) { return PyModule_Create(&module); }
