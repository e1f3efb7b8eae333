"""marquee: Python binding of libmarquee (the Marquee personalization engine), over ctypes.

The binding is a thin client of the C library's public API (include/marquee.h): every number
comes from libmarquee.so itself, so results equal the `marquee` command's for the same inputs.
Only the standard library is needed (ctypes, json).

Which library is loaded: $MARQUEE_LIB if set (a path), else build/libmarquee.so.0 of the
repository this package sits in (python/marquee/ -> ../../build/), else the installed
libmarquee.so.0 found by the dynamic loader (`make install`, ldconfig or LD_LIBRARY_PATH).

    import marquee
    ds = marquee.load("../shared/data/ml-100k/u.data")
    m = marquee.train(ds, "ease", {"lambda": 200})
    m.save("ease.mqm")
    m.recommend(ds, member="1", n=10)       # [(title_id, score), ...], best first
    marquee.xp_analyze("units.csv", metric="watch_minutes", control="A")   # dict

Errors raise marquee.Error carrying the library's message (file, line, field, value).
Objects are not thread-safe to create or destroy concurrently; a trained Model is immutable
and may be used from many threads (the library releases no GIL of its own: ctypes does).
Documentation: docs/python.md.
"""
import ctypes
import ctypes.util
import json
import os

__all__ = ["Error", "Dataset", "Model", "version", "load", "train", "load_model", "xp_analyze"]


class Error(Exception):
    """A libmarquee failure: .code is the negative MQ_E* code, str(e) the library's message."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


class _Err(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int), ("msg", ctypes.c_char * 512)]


# The leading fields of mq_dataset (include/marquee/data.h); the rest is reached through calls.
class _DatasetHead(ctypes.Structure):
    _fields_ = [("n_members", ctypes.c_int32), ("n_titles", ctypes.c_int32),
                ("nnz", ctypes.c_int64)]


# Options structs start with struct_size and are set up by the library's init function with
# this layout's size (include/marquee/core.h, "How public structs grow"): _new_opts below.
class _TrainOpts(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("params", ctypes.POINTER(ctypes.c_char_p)), ("n_params", ctypes.c_int),
                ("n_threads", ctypes.c_int), ("seed", ctypes.c_uint64),
                ("log", ctypes.c_void_p)]


class _Filter(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_uint32), ("include_seen", ctypes.c_bool), ("exclude", ctypes.POINTER(ctypes.c_int32)),
                ("n_exclude", ctypes.c_int), ("genre", ctypes.c_int)]


def _find_library():
    env = os.environ.get("MARQUEE_LIB")
    if env:
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.join(here, os.pardir, os.pardir, "build", "libmarquee.so.0")
    if os.path.exists(repo):
        return os.path.normpath(repo)
    return "libmarquee.so.0"


def _load_library():
    path = _find_library()
    try:
        lib = ctypes.CDLL(path)
    except OSError as e:
        raise ImportError("marquee: cannot load %s (%s); build it with `make`, install it with "
                          "`make install`, or set MARQUEE_LIB" % (path, e)) from None
    P, I, I32, F, S = ctypes.c_void_p, ctypes.c_int, ctypes.c_int32, ctypes.c_float, ctypes.c_char_p
    E = ctypes.POINTER(_Err)
    PP = ctypes.POINTER(ctypes.c_void_p)
    sigs = {
        "mq_version": (S, []),
        "mq_strerror": (S, [I]),
        "mq_data_open": (I, [S, P, PP, E]),
        "mq_data_positives": (I, [P, F, I, PP, E]),
        "mq_dataset_destroy": (None, [P]),
        "mq_train_opts_init": (None, [ctypes.POINTER(_TrainOpts), ctypes.c_size_t]),
        "mq_filter_init": (None, [ctypes.POINTER(_Filter), ctypes.c_size_t]),
        "mq_model_train": (I, [S, P, ctypes.POINTER(_TrainOpts), PP, E]),
        "mq_model_destroy": (None, [P]),
        "mq_model_save": (I, [P, S, E]),
        "mq_model_load": (I, [S, PP, E]),
        "mq_model_kind": (S, [P]),
        "mq_model_params": (S, [P]),
        "mq_model_n_titles": (I32, [P]),
        "mq_model_title_id": (S, [P, I32]),
        "mq_model_title_index": (I32, [P, S]),
        "mq_model_recommend": (I, [P, ctypes.POINTER(I32), P, I, ctypes.POINTER(_Filter), I,
                                   ctypes.POINTER(I32), ctypes.POINTER(F), E]),
        "mq_model_recommend_member": (I, [P, P, P, S, ctypes.POINTER(_Filter), I,
                                          ctypes.POINTER(I32), ctypes.POINTER(F), E]),
        "mq_xp_analyze_params": (I, [S, ctypes.POINTER(S), I, PP, PP, P, E]),
    }
    for name, (res, args) in sigs.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    return path, lib


_path, _lib = _load_library()
_libc = ctypes.CDLL(ctypes.util.find_library("c"))
_libc.free.argtypes, _libc.free.restype = [ctypes.c_void_p], None


def _new_opts(cls, init):
    """An options struct with the library's defaults, its struct_size this layout's size."""
    o = cls()
    init(ctypes.byref(o), ctypes.sizeof(o))
    return o


def _enc(s):
    return s.encode("utf-8") if isinstance(s, str) else bytes(s)


def _check(rc, err):
    if rc < 0:
        msg = err.msg.decode("utf-8", "replace") or _lib.mq_strerror(rc).decode()
        raise Error(rc, msg)
    return rc


def version():
    """The version of the loaded libmarquee, e.g. "0.1.0" (mq_version)."""
    return _lib.mq_version().decode()


def library_path():
    """The path (or name) the shared library was loaded from."""
    return _path


class Dataset:
    """Interaction data loaded by marquee.load (mq_data_open): data files, a folder or a
    snapshot, exactly as `marquee data` / `marquee train --data` read them."""

    def __init__(self, handle, path):
        self._h = ctypes.c_void_p(handle)
        self._pos = None
        self.path = path
        head = ctypes.cast(self._h, ctypes.POINTER(_DatasetHead)).contents
        self.n_members, self.n_titles, self.n_interactions = head.n_members, head.n_titles, head.nnz

    def _positives(self):
        # The implicit positives, as the CLI makes them by default (mq_data_positives: ratings
        # >= 4 for explicit data, every positive-strength event otherwise; members with >= 1).
        if self._pos is None:
            err, out = _Err(), ctypes.c_void_p()
            _check(_lib.mq_data_positives(self._h, 0.0, 1, ctypes.byref(out), ctypes.byref(err)), err)
            self._pos = out
        return self._pos

    def __del__(self):
        if getattr(self, "_pos", None) is not None:
            _lib.mq_dataset_destroy(self._pos)
        if getattr(self, "_h", None) is not None:
            _lib.mq_dataset_destroy(self._h)
            self._h = None

    def __repr__(self):
        return "<marquee.Dataset %s: %d members x %d titles, %d interactions>" % (
            self.path, self.n_members, self.n_titles, self.n_interactions)


def load(path):
    """Loads interactions (any format `marquee data` reads, auto-detected) or a snapshot."""
    err, out = _Err(), ctypes.c_void_p()
    _check(_lib.mq_data_open(_enc(path), None, ctypes.byref(out), ctypes.byref(err)), err)
    return Dataset(out.value, path)


class Model:
    """A trained or loaded model (immutable). kind and params as in `marquee train`."""

    def __init__(self, handle):
        self._h = ctypes.c_void_p(handle)

    def __del__(self):
        if getattr(self, "_h", None) is not None:
            _lib.mq_model_destroy(self._h)
            self._h = None

    @property
    def kind(self):
        return _lib.mq_model_kind(self._h).decode()

    @property
    def params(self):
        """The canonical parameter text, e.g. "lambda=200 prune=0"."""
        return _lib.mq_model_params(self._h).decode()

    @property
    def n_titles(self):
        return _lib.mq_model_n_titles(self._h)

    def save(self, path):
        """Writes the model artifact atomically (the file `marquee train --out` writes)."""
        err = _Err()
        _check(_lib.mq_model_save(self._h, _enc(path), ctypes.byref(err)), err)

    def recommend(self, ds=None, member=None, n=10, history=None, include_seen=False):
        """Top-n titles as [(title_id, score)], best first, as `marquee recommend`: for member
        (an external id) of ds, whose positives are the history and whose other titles are
        excluded as seen; or for a new member given history, a list of title ids (fold-in)."""
        n = int(n)
        if n < 1:
            raise ValueError("n must be >= 1")
        out = (ctypes.c_int32 * n)()
        scores = (ctypes.c_float * n)()
        f = _new_opts(_Filter, _lib.mq_filter_init)
        f.include_seen = bool(include_seen)
        err = _Err()
        if history is not None:
            idx = []
            for t in history:
                i = _lib.mq_model_title_index(self._h, _enc(str(t)))
                if i < 0:
                    raise Error(-6, "title '%s' is not in the model's catalog" % t)
                if i not in idx:
                    idx.append(i)
            hist = (ctypes.c_int32 * max(len(idx), 1))(*idx)
            c = _lib.mq_model_recommend(self._h, hist, None, len(idx), ctypes.byref(f), n, out,
                                        scores, ctypes.byref(err))
        else:
            if ds is None or member is None:
                raise ValueError("recommend needs ds and member, or history")
            c = _lib.mq_model_recommend_member(self._h, ds._positives(), ds._h, _enc(str(member)),
                                               ctypes.byref(f), n, out, scores, ctypes.byref(err))
        _check(c, err)
        return [(_lib.mq_model_title_id(self._h, out[i]).decode(), float(scores[i]))
                for i in range(c)]


def _param_text(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def train(ds, kind, params=None, threads=0, seed=1):
    """Trains model kind ("pop", "ease", "ials", ...) on the implicit positives of ds, as
    `marquee train --data PATH --model KIND --param NAME=VALUE ...` does by default."""
    items = ["%s=%s" % (k, _param_text(v)) for k, v in (params or {}).items()]
    arr = (ctypes.c_char_p * max(len(items), 1))(*[_enc(s) for s in items])
    opts = _new_opts(_TrainOpts, _lib.mq_train_opts_init)
    opts.params, opts.n_params = arr, len(items)
    opts.n_threads, opts.seed = int(threads), int(seed)
    err, out = _Err(), ctypes.c_void_p()
    _check(_lib.mq_model_train(_enc(kind), ds._positives(), ctypes.byref(opts), ctypes.byref(out),
                               ctypes.byref(err)), err)
    return Model(out.value)


def load_model(path):
    """Loads a model artifact written by Model.save or `marquee train` (mmap, checksummed)."""
    err, out = _Err(), ctypes.c_void_p()
    _check(_lib.mq_model_load(_enc(path), ctypes.byref(out), ctypes.byref(err)), err)
    return Model(out.value)


def xp_analyze(csv_path, metric=None, control=None, **options):
    """Analyses an A/B test's unit-level CSV as `marquee xp analyze --json`, returning that
    JSON object as a dict. metric is a column (or "NUM/DEN") or a list of them; other options
    are the command's long options with '_' for '-', e.g. covariate="pre_minutes",
    sequential=True, quantile=[0.5, 0.9], srm_alpha=0.001 (docs/xp.md)."""
    params = []
    for name, value in [("metric", metric), ("control", control)] + sorted(options.items()):
        if value is None:
            continue
        values = value if isinstance(value, (list, tuple)) else [value]
        params += ["%s=%s" % (name.replace("_", "-"), _param_text(v)) for v in values]
    arr = (ctypes.c_char_p * max(len(params), 1))(*[_enc(p) for p in params])
    js, txt, err = ctypes.c_void_p(), ctypes.c_void_p(), _Err()
    rc = _lib.mq_xp_analyze_params(_enc(csv_path), arr, len(params), ctypes.byref(js),
                                   ctypes.byref(txt), None, ctypes.byref(err))
    try:
        _check(rc, err)
        return json.loads(ctypes.string_at(js.value).decode("utf-8"))
    finally:
        _libc.free(js)
        _libc.free(txt)
