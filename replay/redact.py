"""Find secrets in environment variables, argv and free text, and remove them for good.

The capture agent imports this on the failure path inside someone else's job, so it uses
the standard library only and costs one small import. A secret is recognised two ways:

* by NAME: a variable, option or assignment whose name says it holds a secret
  (`MY_DB_PASSWORD`, `AWS_SECRET_ACCESS_KEY`, `--token`, `"api_key":`), see
  `is_secret_name`;
* by VALUE: a shape that is a secret whatever it is called (JWTs, private key blocks,
  passwords inside URLs, cloud access keys, vendor tokens, long high-entropy strings).

On top of that, every value of a secret-named environment variable is scrubbed wherever it
appears in text: that is how a step that prints its own token is caught.

Replacements keep nothing recoverable: no prefix, no length, no hash, just `<redacted>` or
`<redacted:NAME>` when the secret is a known variable's value. The manifest lists the
names of the redacted variables (names only), so a replay can ask for exactly those.

Speed matters because a log tail of a megabyte is redacted on the failure path. Python's
`re` is a backtracking engine that pays per text position for an alternation of many
patterns (a single alternation of these rules took 400 ms per MB here), but it scans for a
literal prefix at memchr-like speed. So every rule below is anchored on a literal, and the
"shape" rules share one pass: the text is mapped to token/non-token bytes with
`bytes.translate`, and only runs of 32 or more token characters are examined in Python.
All scanning works on a latin-1 image of the text (one byte per character, so offsets
match the original `str`).
"""

from __future__ import annotations

import os
from functools import lru_cache

from replay.patterns import LazyPattern

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: the agent should not pay for typing
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

REDACTED = "<redacted>"

# --- secrets by name ---------------------------------------------------------------

# Each character of a name as "U" (ASCII upper case), "l" (lower case), "d" (digit) or
# anything else (a separator); characters past ASCII are left as they are, separators too.
_KINDS = str.maketrans({chr(i): "U" if chr(i).isupper() else "l" if chr(i).islower()
                        else "d" if chr(i).isdigit() else " " for i in range(128)})


def _words(name: str) -> list[str]:
    """The words of a name, as `re.findall(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")`
    finds them (`HTTPServerURL2` -> `HTTP Server URL 2`), without loading `re`: every
    variable of the environment is judged by name on the failure path."""
    kinds = name.translate(_KINDS)
    words: list[str] = []
    i, n = 0, len(kinds)
    while i < n:
        kind = kinds[i]
        if kind not in "Uld":
            i += 1
            continue
        j = i + 1
        while j < n and kinds[j] == kind:
            j += 1
        if kind == "U" and j < n and kinds[j] == "l":
            if j - i > 1:  # capitals before a capitalised word: `HTTP` of `HTTPServer`
                j -= 1
            else:  # one capital starts a word: `Server`
                j += 1
                while j < n and kinds[j] == "l":
                    j += 1
        words.append(name[i:j])
        i = j
    return words


# A word of a name that marks the name as holding a secret.
_SECRET_WORDS = frozenset(
    "key token secret secrets password passwords passwd pwd pass passphrase credential"
    " credentials cred creds sas sig signature auth authorization private connstr cookie"
    " dsn jwt bearer pat apikey".split()
)
# Fragments found in the name with separators removed: they catch run-together names
# (`DBPASSWORD`, `ACCOUNTKEY`, `STORAGE_CONNECTION_STRING` -> `connectionstring`).
_SECRET_FRAGMENTS = tuple(
    "password passwd passphrase secret credential apikey connstr connectionstring accesskey"
    " accountkey privatekey masterkey sastoken authtoken accesstoken refreshtoken"
    " identityheader msisecret".split()
)
# A last word that makes the name describe a secret rather than hold one:
# `SSH_KEY_PATH`, `PRIMARY_KEY_COLUMN`, `AUTH_TYPE`, `KeyError`, `TOKEN_EXPIRY`.
_DESCRIBING = frozenset(
    "path file filename dir directory name column col field length len size type kind"
    " format version enabled disabled expiry expires ttl timeout error exception warning"
    " count mode provider method algorithm prefix limit sock socket".split()
)
# `key` after one of these is a data key, not a secret (`PRIMARY_KEY`, `SORT_KEY`).
_KEY_QUALIFIERS = frozenset(
    "primary foreign sort partition join group index cache lookup unique composite"
    " surrogate natural hot dict row shard routing hash cluster order merge public".split()
)
# The shell's working directories: `pwd` here is not a password.
_SHELL_NAMES = frozenset({"pwd", "oldpwd"})
# Values of secret-named variables that are flags or unset, not secrets (`USE_AUTH=1`).
_TRIVIAL_VALUES = frozenset(["", *"true false yes no on off none null 0 1".split()])


@lru_cache(maxsize=4096)
def is_secret_name(name: str) -> bool:
    """Whether a variable, option or key called `name` holds a secret.

    Names are split into words (`_`, `-`, `.` and camelCase); a secret word anywhere
    counts (`AZUREML_RUN_TOKEN`, `apiKey`, `x-amz-signature`), unless the last word says
    the name describes the secret (`SSH_KEY_PATH`) or `key` is a data key (`SORT_KEY`).
    Whole words only, so `KEYBOARD`, `TOKENIZERS_PARALLELISM` and `MAX_TOKENS` stay.
    """
    words = [w.lower() for w in _words(name)]
    if not words or name.lower() in _SHELL_NAMES:
        return False
    if len(words) > 1 and words[-1] in _DESCRIBING:
        return False
    joined = "".join(words)
    if any(fragment in joined for fragment in _SECRET_FRAGMENTS):
        return True
    for i, word in enumerate(words):
        if word in _SECRET_WORDS and not (word == "key" and i and words[i - 1] in _KEY_QUALIFIERS):
            return True
    return False


# --- secrets by value: the rules ------------------------------------------------------

_TOKEN_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-"
_CLASS_MAP = bytes(0x61 if i in _TOKEN_CHARS else 0x20 for i in range(256))
_RUN_MIN = 32  # shortest token the shape pass examines; shorter formats have own patterns
_RUN_NEEDLE = b"a" * _RUN_MIN

# Vendor tokens that can have too little entropy for the generic rule (letters only,
# no upper case); each starts a token, so a run's first bytes are enough to check.
_VENDOR_PREFIXES = (
    b"ghp_",
    b"gho_",
    b"ghu_",
    b"ghs_",
    b"ghr_",
    b"github_pat_",
    b"xox",
    b"hf_",
    b"npm_",
    b"pypi-",
    b"AIza",
    b"sk_live_",
    b"rk_live_",
)


# Each rule is compiled (and `re` loaded) only once a literal that every match contains
# is in the text; this one and `_JWT` name none because `_shape_spans` looks for theirs.
_VENDOR_TOKEN = LazyPattern(
    rb"gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}"  # GitHub
    rb"|xox[abposr]-[A-Za-z0-9-]{10,}"  # Slack
    rb"|hf_[A-Za-z]{30,}"  # Hugging Face
    rb"|npm_[A-Za-z0-9]{30,}|pypi-[A-Za-z0-9_-]{50,}"  # package registries
    rb"|AIza[A-Za-z0-9_-]{35}"  # Google API keys
    rb"|[sr]k_live_[A-Za-z0-9]{16,}"  # Stripe
)
# Formats shorter than a run; the look-behind sits after the first literal so that `re`
# can scan for that literal.
_SHORT_KEYS = (
    ("aws-access-key", LazyPattern(rb"A(?<![A-Za-z0-9]A)[KS]IA[A-Z0-9]{16}(?![A-Za-z0-9])", b"AKIA", b"ASIA")),
    ("vendor-token", LazyPattern(rb"glpat-[A-Za-z0-9_-]{20,}", b"glpat-")),  # GitLab
)
_JWT = LazyPattern(rb"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.?[A-Za-z0-9_-]*")
_PEM = LazyPattern(
    rb"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY-----"
    rb"(?:[\s\S]{0,65536}?-----END[A-Z0-9 ]{0,40}PRIVATE KEY-----|[A-Za-z0-9+/=\s\\:,-]*)",
    b"-----BEGIN",
)
_URL_PASSWORD = LazyPattern(rb"://[^\s/:@'\"<>]{0,256}:([^\s/@'\"<>]{1,256})@", b"://")
# Name stems for `name=value` / `name: value` in text, on the lowercased image. Stems
# are grouped by first letter, one pattern each, so `re` scans for a literal; the rest
# of the name and the value are one pattern, matched where a stem ends (compiled once:
# six copies took a failing job ~3 ms to compile). The whole name is then judged by
# `is_secret_name` (`tokenizers_parallelism=false`, `KeyError: x` stay as they are).
_ASSIGN_STEMS = (
    LazyPattern(rb"p(?:ass|wd)", b"pass", b"pwd"),
    LazyPattern(rb"s(?:ecret|ig)", b"secret", b"sig"),
    LazyPattern(rb"c(?:red|ookie)", b"cred", b"cookie"),
    LazyPattern(rb"token", b"token"),
    LazyPattern(rb"key", b"key"),
    LazyPattern(rb"auth", b"auth"),
)
_ASSIGN_TAIL = LazyPattern(
    rb"([a-z0-9_.-]{0,64})['\"]?[ \t]*[:=][ \t]*(?:(?:bearer|basic|token|digest)[ \t]+)?"
    rb"(?:\"([^\"\n]{1,4096})\"|'([^'\n]{1,4096})'"
    # unquoted: up to a delimiter, and not code (`key = row["id"]`, `token = f(x)`)
    rb"|(?![a-z0-9_.]*[(\[])([^\s'\",;&)}\]<>]{1,4096}))"
)
_NAME_BEFORE = LazyPattern(rb"[A-Za-z0-9_.-]{0,64}\Z")
_DIGITS = b"0123456789"
_LOWER_MAP = bytes(0x61 if 0x61 <= i <= 0x7A else 0x20 for i in range(256))  # a-z -> a
_WORD_NEEDLE = b"a" * 8  # eight lower-case letters in a row

Span = tuple[int, int, str, str]
"""(start, end, report name, replacement) of one secret in the scanned text."""


def _looks_random(run: bytes) -> bool:
    """A token with upper, lower and digits, high entropy and no English-like words.

    The entropy floor is 80% of the most a string of that length can show, which keeps
    identifiers such as `HistGradientBoostingClassifier2` and lowercase hex digests; a
    lowercase run of 8+ letters marks a word (`ResNet50ImageClassifierV2Checkpoint`).
    The price: a random key that happens to hold such a run (about 1 in 100 for a
    88-character key) is missed here and must be caught by its name or its format.
    """
    if run.lower() == run or run.upper() == run or len(run.translate(None, _DIGITS)) == len(run):
        return False
    if _WORD_NEEDLE in run.translate(_LOWER_MAP):
        return False
    from math import log2

    n = len(run)
    entropy = -sum(c / n * log2(c / n) for c in map(run.count, set(run)))
    return entropy >= 0.8 * log2(min(n, 64))


def _shape_spans(data: bytes) -> Iterator[Span]:
    """JWTs, vendor tokens and high-entropy strings: every run of 32+ token characters."""
    classes = data.translate(_CLASS_MAP)
    pos = classes.find(_RUN_NEEDLE)
    while pos >= 0:
        end = classes.find(b" ", pos)
        end = len(data) if end < 0 else end
        run = data[pos:end]
        if (jwt := _jwt_at(data, pos, run)) is not None:
            yield jwt
        if run.startswith(_VENDOR_PREFIXES) and (m := _VENDOR_TOKEN.pattern.match(run)):
            yield pos, pos + m.end(), "vendor-token", REDACTED
        if _looks_random(run):
            while end < len(data) and end - pos < len(run) + 2 and data[end] == 0x3D:  # '=' padding
                end += 1
            yield pos, end, "high-entropy", REDACTED
        pos = classes.find(_RUN_NEEDLE, end)


def _jwt_at(data: bytes, pos: int, run: bytes) -> Span | None:
    """A JWT touching this run. The run may be its signature, and its header and payload
    shorter runs before it, each ending at a dot: a small header and payload encode in
    fewer than 32 characters (`{"alg":"HS256"}` in 20)."""
    at = run.find(b"eyJ")
    if at < 0 and not (pos and data[pos - 1] == 0x2E):
        return None
    starts = [pos + at if at >= 0 else pos]
    for _ in range(2):  # '.': a payload or a signature; look for what comes before it
        start = starts[-1]
        if not (start and data[start - 1] == 0x2E):
            break
        head = data.rfind(b"eyJ", max(0, start - 4096), start - 1)
        if head < 0:
            break
        starts.append(head)
    for start in reversed(starts):  # the earliest that reads as a JWT reaching this run
        m = _JWT.pattern.match(data, start) if data.startswith(b"eyJ", start) else None
        if m and m.end() > pos:
            return m.start(), m.end(), "jwt", REDACTED
    return None


def _pattern_spans(data: bytes) -> Iterator[Span]:
    """Short cloud keys, private key blocks and passwords inside URLs."""
    for label, rule in (*_SHORT_KEYS, ("private-key", _PEM)):
        if rule.may_match(data):
            for m in rule.pattern.finditer(data):
                yield m.start(), m.end(), label, REDACTED
    if _URL_PASSWORD.may_match(data):
        for m in _URL_PASSWORD.pattern.finditer(data):
            yield m.start(1), m.end(1), "url-password", REDACTED


def _assignment_spans(data: bytes) -> Iterator[Span]:
    """The value in `password=x`, `"api_key": "x"`, `Authorization: Bearer x`."""
    low = data.lower()
    for stem in _ASSIGN_STEMS:
        if not stem.may_match(low):
            continue
        pos = 0
        # No stem can start inside another's match, so the search goes on from its end.
        while (m := stem.pattern.search(low, pos)) is not None:
            tail = _ASSIGN_TAIL.pattern.match(low, m.end())
            pos = m.end() if tail is None else tail.end()
            if tail is None:
                continue
            head = _NAME_BEFORE.pattern.search(data, max(0, m.start() - 64), m.start())
            name_start = head.start() if head else m.start()
            name = data[name_start : tail.end(1)].decode("latin-1").strip("-.")
            if is_secret_name(name):
                value = next(g for g in (2, 3, 4) if tail.start(g) >= 0)
                yield tail.start(value), tail.end(value), name, REDACTED


def _merge(spans: list[Span]) -> list[Span]:
    """Sort spans and fuse overlapping ones; the earliest (then longest) one names it."""
    merged: list[Span] = []
    for span in sorted(spans, key=lambda s: (s[0], -s[1])):
        if merged and span[0] <= merged[-1][1]:
            start, end, name, replacement = merged[-1]
            merged[-1] = (start, max(end, span[1]), name, replacement)
        else:
            merged.append(span)
    return merged


_URL_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")


def url_quoted(value: str) -> str:
    """`value` as `urllib.parse.quote(value, safe="")` spells it (whose import loads `re`
    on the failure path); a character the environment could not decode is quoted as the
    byte it stands for."""
    data = value.encode("utf-8", "surrogateescape")
    return "".join(chr(b) if b in _URL_UNRESERVED else f"%{b:02X}" for b in data)


def _variants(value: str) -> set[str]:
    """How a value may be spelled in text: as is, URL-quoted, JSON- or repr-escaped."""
    json_escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return {value, url_quoted(value), json_escaped, repr(value)[1:-1]}


class Redactor:
    """Redacts env, argv and text with the secrets of one environment in mind.

    Build it once from the job's environment (default: `os.environ`): the values of its
    secret-named variables are then hunted in every text. `report()` accumulates the
    names redacted by every call.
    """

    #: Secret values shorter than this are redacted from env but not hunted in text,
    #: where a 3-letter value would blank out ordinary words.
    MIN_LITERAL = 4

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        self._report: dict[str, set[str]] = {"env": set(), "argv": set(), "text": set()}
        self._literals: list[tuple[bytes, str]] = []
        for name, value in env.items():
            if _is_secret_var(name, value):
                self.learn(name, value)

    def learn(self, name: str, value: str) -> None:
        """Hunt `value` (a secret known as `name`) in every text redacted from now on."""
        if len(value) < self.MIN_LITERAL:
            return
        known = {literal for literal, _ in self._literals}
        for variant in _variants(value):
            literal = variant.encode("latin-1", "replace")
            if literal not in known:
                self._literals.append((literal, name))
        # longest first, so a secret that contains another is found whole
        self._literals.sort(key=lambda item: -len(item[0]))

    def _scrub(self, text: str) -> tuple[str, set[str]]:
        """`text` with every secret replaced, and the names of what was found."""
        if not text:
            return text, set()
        data = text.encode("latin-1", "replace")  # one byte per character: same offsets
        spans: list[Span] = []
        for literal, name in self._literals:
            at = data.find(literal)
            while at >= 0:
                spans.append((at, at + len(literal), name, f"<redacted:{name}>"))
                at = data.find(literal, at + len(literal))
        spans.extend(_shape_spans(data))
        spans.extend(_pattern_spans(data))
        spans.extend(_assignment_spans(data))
        if not spans:
            return text, set()
        pieces: list[str] = []
        last = 0
        for start, end, _, replacement in _merge(spans):
            pieces += (text[last:start], replacement)
            last = end
        pieces.append(text[last:])
        return "".join(pieces), {span[2] for span in spans}

    def redact_text(self, text: str) -> str:
        """`text` (a log, a message, a repr) with every secret replaced."""
        new, found = self._scrub(text)
        self._report["text"] |= found
        return new

    def redact_value(self, name: str, value: str) -> str:
        """One named value (a local variable's repr, an env var): replaced whole when the
        name is a secret's (and a string's content hunted from then on), else scrubbed
        like text."""
        if name not in _MAPPING_KEY_NAMES and _is_secret_var(name, value):
            self._report["text"].add(name)
            quoted = len(value) >= 2 and value[0] == value[-1] and value[0] in "'\""
            self.learn(name, value[1:-1] if quoted else value)
            return f"<redacted:{name}>"
        return self.redact_text(value)

    def redact_env(self, env: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
        """(copy of `env` with secrets replaced, sorted names of the changed variables)."""
        out: dict[str, str] = {}
        for name, value in env.items():
            out[name] = (
                f"<redacted:{name}>" if _is_secret_var(name, value) else self._scrub(value)[0]
            )
        names = sorted(name for name, value in env.items() if out[name] != value)
        self._report["env"].update(names)
        return out, names

    def redact_argv(self, argv: Sequence[str]) -> list[str]:
        """argv with secrets replaced: `--password x`, `--token=x`, `db.password=x`,
        and any secret shape or known secret value in any argument."""
        out: list[str] = []
        found: set[str] = set()
        pending: str | None = None  # a secret option whose value is the next argument
        for arg in argv:
            if pending is not None and not arg.startswith("--"):
                out.append(f"<redacted:{pending}>")
                found.add(pending)
                self.learn(pending, arg)
                pending = None
                continue
            pending = None
            name, sep, value = arg.partition("=")
            option = name.lstrip("-+")
            if sep and _is_secret_var(option, value) and _ARG_NAME.pattern.match(option):
                out.append(f"{name}=<redacted:{option}>")
                found.add(option)
                self.learn(option, value)
            elif not sep and arg.startswith("-") and _takes_secret(option):
                pending = option
                out.append(arg)
            else:
                new, names = self._scrub(arg)
                out.append(new)
                found |= names
        self._report["argv"] |= found
        return out

    def report(self) -> dict[str, list[str]]:
        """Names (never values) redacted so far, by where they were found."""
        return {where: sorted(names) for where, names in self._report.items()}


# A local called `key` is almost always a mapping's key (os.environ.__getitem__ has one
# holding the *name* of the missing variable), not a secret: its value is kept.
_MAPPING_KEY_NAMES = frozenset({"key", "keys", "k"})
_ARG_NAME = LazyPattern(r"^[A-Za-z_][\w.-]*$")
# Options like these are switches, so the argument after them is not their value.
_SWITCH_PREFIXES = ("no-", "use-", "with-", "without-", "enable-", "disable-", "skip-")


def _is_secret_var(name: str, value: str) -> bool:
    """A secret-named variable whose value is more than a flag (`USE_AUTH=1` is kept)."""
    return is_secret_name(name) and value.strip().lower() not in _TRIVIAL_VALUES


def _takes_secret(option: str) -> bool:
    """`--password` takes a secret as its next argument; `--no-auth` is a switch."""
    return bool(option) and is_secret_name(option) and not option.startswith(_SWITCH_PREFIXES)
