"""One registry pattern for every pluggable kind: lazy, dependency-checked providers.

A :class:`Registry` maps a *name* to a provider object (a backend factory, a dataset loader, an
answer check, a reward function, a rubric folder, a CLI command hook) without importing anything
until the provider is asked for:

* **Declared entries** name the module that provides the object, the importable modules it needs,
  the pip extra that installs them and a one-line description. ``entries()`` / ``missing()`` answer
  "what exists and is it installed?" from that declaration alone, so the CLI, scoring, the
  leaderboard and compare never import torch.
* **Decorator registration**: a provider module registers its object when (and only when) it is
  imported, e.g. ``@backends.register("hf")``. Registering a name nobody declared adds an entry for
  the object's module, so the decorator always extends the registry.
* **Dependency check on load**: ``load(name)`` first checks the declared requirements and raises
  :class:`~mosseval.errors.MissingDependencyError` (exit 5) with the exact pip command; an import
  that still fails for a missing module is reported the same way, naming that module.
* **Third-party providers** come from one Python entry-point group per kind (``mosseval.backends``,
  ``mosseval.loaders``, ``mosseval.extractors``, ``mosseval.rubrics``, ``mosseval.rewards``,
  ``mosseval.commands``). An entry point ``name = package.module:attr [extra]`` adds ``name``; the
  object is the module's decorator registration of ``name`` if it makes one, else ``attr``. Extras
  in brackets are checked against the distribution's own ``Requires-Dist`` before importing, so a
  missing optional dependency of a plugin is reported with ``pip install 'dist[extra]'``.
  Built-in names win over third-party ones of the same name (the shadowed entry is listed by
  ``mosseval plugins``).

The registries themselves live next to the code that uses them (``mosseval.models.registry.backends``,
``mosseval.data.loaders``, ...); :func:`all_registries` collects them for ``mosseval plugins``.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import importlib.util
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from mosseval.errors import MissingDependencyError, PluginError, UsageError, did_you_mean

T = TypeVar("T")

BUILTIN = "mosseval"
"""``Entry.distribution`` of the providers shipped with mosseval."""

CONSTRAINTS_HINT = " -c constraints.txt"
"""Every mosseval install pins CPU wheels through the constraints file (see the README)."""

_EXTRA_MARKER = re.compile(r"""extra\s*==\s*['"]([^'"]+)['"]""")
_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Entry:
    """What the registry knows about a provider before importing it."""

    kind: str
    name: str
    module: str
    """Module whose import registers the provider."""
    attr: str | None = None
    """Attribute of ``module`` that *is* the provider, when the module does not register it."""
    requires: tuple[str, ...] = ()
    """Importable modules the provider needs (checked with ``importlib.util.find_spec``)."""
    extra: str | None = None
    """The pip extra that installs ``requires`` (for built-ins: ``mosseval[extra]``)."""
    description: str = ""
    distribution: str = BUILTIN
    """The distribution that provides the entry (``mosseval`` or a third-party package)."""
    requires_dists: tuple[str, ...] = ()
    """Distributions a third-party entry's extras need (from its ``Requires-Dist`` metadata)."""
    meta: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)
    """Kind-specific data available without importing (e.g. a backend's ``--model`` prefix)."""

    @property
    def builtin(self) -> bool:
        return self.distribution == BUILTIN

    def missing(self) -> list[str]:
        """Required modules / distributions that are not installed (empty: ready to load)."""
        out = [m for m in self.requires if not _module_available(m)]
        for dist in self.requires_dists:
            try:
                md.distribution(dist)
            except md.PackageNotFoundError:
                out.append(dist)
        return out

    def install_command(self) -> str:
        """The exact pip command that installs what this entry needs."""
        if self.builtin:
            target = f"mosseval[{self.extra}]" if self.extra else "mosseval"
            return f"pip install '{target}'{CONSTRAINTS_HINT}"
        target = f"{self.distribution}[{self.extra}]" if self.extra else self.distribution
        return f"pip install '{target}'"

    @property
    def provider(self) -> str:
        """Where the entry comes from, for listings: ``mosseval`` or ``dist (module)``."""
        return self.distribution if self.builtin else f"{self.distribution} ({self.module})"


def _module_available(name: str) -> bool:
    import sys

    if name in sys.modules:
        return sys.modules[name] is not None
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a parent package that fails to import, or __spec__ None
        return False


class Registry(Generic[T]):
    """Name -> provider of one kind (see the module docstring)."""

    def __init__(self, kind: str, group: str, noun: str, *, check: Callable[[str, Any], None] | None = None):
        self.kind = kind
        """Plural kind name, e.g. ``backends``."""
        self.group = group
        """The entry-point group third parties declare providers in, e.g. ``mosseval.backends``."""
        self.noun = noun
        """How one provider is called in messages, e.g. ``backend``."""
        self._check = check
        self._declared: dict[str, Entry] = {}
        self._objects: dict[str, T] = {}
        self._hooks: dict[str, dict[str, Any]] = {}
        self._plugins: dict[str, Entry] | None = None
        self._shadowed: list[Entry] = []
        self._lock = threading.RLock()

    # -- declaring and registering -----------------------------------------------------------

    def declare(self, name: str, module: str, *, attr: str | None = None, requires: tuple[str, ...] = (),
                extra: str | None = None, description: str = "", **meta: Any) -> Entry:
        """Declare a built-in provider lazily (nothing is imported)."""
        entry = Entry(self.kind, name, module, attr, tuple(requires), extra, " ".join(description.split()),
                      BUILTIN, (), dict(meta))
        with self._lock:
            self._declared[name] = entry
        return entry

    def register(self, name: str, **hooks: Any) -> Callable[[T], T]:
        """Decorator for provider modules: ``@registry.register("name")``.

        ``hooks`` are optional companion callables of the provider (e.g. a loader's
        ``holds_data``), read back with :meth:`hook`.
        """

        def deco(obj: T) -> T:
            self.add(name, obj, **hooks)
            return obj

        return deco

    def register_hook(self, name: str, hook: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator adding one companion callable to an already declared/registered provider."""

        def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
            with self._lock:
                self._hooks.setdefault(name, {})[hook] = fn
            return fn

        return deco

    def add(self, name: str, obj: T, **hooks: Any) -> None:
        """Register ``obj`` under ``name`` (what the decorator does)."""
        if self._check is not None:
            self._check(name, obj)
        with self._lock:
            if name not in self._declared and name not in self._plugin_entries():
                module = getattr(obj, "__module__", None) or "__main__"
                self._declared[name] = Entry(self.kind, name, module, description=_first_doc_line(obj))
            self._objects[name] = obj
            if hooks:
                self._hooks.setdefault(name, {}).update(hooks)

    # -- discovery ----------------------------------------------------------------------------

    def _plugin_entries(self) -> dict[str, Entry]:
        if self._plugins is None:
            with self._lock:
                if self._plugins is None:
                    self._plugins, self._shadowed = self._discover()
        return self._plugins

    def _discover(self) -> tuple[dict[str, Entry], list[Entry]]:
        found: dict[str, Entry] = {}
        shadowed: list[Entry] = []
        try:
            eps = md.entry_points(group=self.group)
        except Exception:  # noqa: BLE001 - broken metadata of an unrelated package must not stop us
            return {}, []
        for ep in sorted(eps, key=lambda e: (_dist_name(e), e.name)):
            entry = _entry_from_ep(self.kind, ep)
            if entry.name in self._declared or entry.name in found:
                shadowed.append(entry)
                continue
            found[entry.name] = entry
        return found, shadowed

    def refresh(self) -> None:
        """Forget discovered entry points (after installing a plugin in the same process)."""
        with self._lock:
            self._plugins = None
            self._shadowed = []

    # -- queries ------------------------------------------------------------------------------

    def entries(self) -> dict[str, Entry]:
        """Built-in entries first (declaration order), then third-party ones (by distribution)."""
        plugins = self._plugin_entries()
        with self._lock:
            return {**self._declared, **{k: v for k, v in plugins.items() if k not in self._declared}}

    def shadowed(self) -> list[Entry]:
        """Third-party entries hidden by a built-in (or earlier third-party) entry of the same name."""
        self._plugin_entries()
        return list(self._shadowed)

    def names(self) -> list[str]:
        return list(self.entries())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self._declared or name in self._plugin_entries())

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def entry(self, name: str) -> Entry:
        """The entry for ``name``; a :class:`UsageError` with a "did you mean" when unknown."""
        with self._lock:
            found = self._declared.get(name)
        if found is None:
            found = self._plugin_entries().get(name)
        if found is None:
            known = self.names()
            hint = did_you_mean(name, known)
            raise UsageError(
                f"unknown {self.noun} {name!r}" + (f"; {hint}" if hint else ""),
                hint=f"available {self.kind}: {', '.join(known) or '(none)'}; third-party packages add "
                f"{self.kind} through the {self.group!r} entry-point group (`mosseval plugins` lists them)",
            )
        return found

    def missing(self, name: str) -> list[str]:
        return self.entry(name).missing()

    def is_loaded(self, name: str) -> bool:
        return name in self._objects

    # -- loading ------------------------------------------------------------------------------

    def check(self, name: str) -> Entry:
        """Raise :class:`MissingDependencyError` (exit 5) when ``name``'s requirements are absent."""
        entry = self.entry(name)
        if name in self._objects:
            return entry
        missing = entry.missing()
        if missing:
            by = "" if entry.builtin else f" (provided by {entry.distribution})"
            raise MissingDependencyError(
                f"the {name!r} {self.noun}{by} needs {', '.join(missing)}, which "
                f"{'is' if len(missing) == 1 else 'are'} not installed",
                hint=f"install with: {entry.install_command()}",
            )
        return entry

    def load(self, name: str) -> T:
        """The provider object for ``name``: dependency check, import, return."""
        entry = self.check(name)
        with self._lock:
            if name in self._objects:
                return self._objects[name]
        module = self._import(entry)
        with self._lock:
            if name in self._objects:
                return self._objects[name]
        if entry.attr:
            obj = module
            try:
                for part in entry.attr.split("."):
                    obj = getattr(obj, part)
            except AttributeError:
                raise PluginError(
                    f"{self.noun} {name!r}: {entry.module} has no attribute {entry.attr!r}"
                    + ("" if entry.builtin else f" (entry point of {entry.distribution} in group {self.group})"),
                    hint="fix the entry point, or upgrade/reinstall the package that provides it",
                ) from None
            self.add(name, obj)  # type: ignore[arg-type]
            return obj  # type: ignore[return-value]
        raise PluginError(
            f"importing {entry.module} did not register the {self.noun} {name!r}",
            hint=f"decorate the provider with @{self.kind}.register({name!r}) or point the entry point "
            "at it (module:attr)",
        )

    def hook(self, name: str, hook: str) -> Any:
        """A companion callable registered with the provider (None when it has none)."""
        self.load(name)
        return self._hooks.get(name, {}).get(hook)

    def _import(self, entry: Entry) -> Any:
        try:
            return importlib.import_module(entry.module)
        except ModuleNotFoundError as exc:
            missing = exc.name or str(exc)
            if entry.builtin and missing.split(".")[0] == "mosseval":
                raise  # a bug in mosseval itself, not a missing dependency
            top = missing.split(".")[0]
            how = entry.install_command() if entry.extra or not entry.builtin else f"pip install {top}"
            by = "" if entry.builtin else f" (provided by {entry.distribution})"
            raise MissingDependencyError(
                f"the {entry.name!r} {self.noun}{by} needs the module {missing!r}, which is not installed",
                hint=f"install with: {how}",
            ) from None
        except ImportError as exc:
            raise MissingDependencyError(
                f"the {entry.name!r} {self.noun} cannot be imported: {_first_line(exc)}",
                hint=f"reinstall its dependencies: {entry.install_command()}",
            ) from None
        except Exception as exc:  # noqa: BLE001 - a third-party plugin that fails on import
            if entry.builtin:
                raise
            raise PluginError(
                f"the {entry.name!r} {self.noun} from {entry.distribution} failed to import "
                f"({type(exc).__name__}: {_first_line(exc)})",
                hint=f"fix or uninstall {entry.distribution} (`pip uninstall {entry.distribution}`)",
            ) from None


# --------------------------------------------------------------------------------------------
# entry points
# --------------------------------------------------------------------------------------------


def _dist_name(ep: md.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return (dist.metadata["Name"] if dist is not None else None) or "unknown-distribution"


def _entry_from_ep(kind: str, ep: md.EntryPoint) -> Entry:
    module, attr = ep.module, ep.attr or None
    extras = tuple(ep.extras or ())
    dist_name = _dist_name(ep)
    needs: list[str] = []
    summary = ""
    dist = getattr(ep, "dist", None)
    if dist is not None:
        summary = dist.metadata.get("Summary") or ""
        wanted = {_norm(e) for e in extras}
        for req in dist.requires or []:
            req_part, _, marker = req.partition(";")
            m = _EXTRA_MARKER.search(marker)
            if m and _norm(m.group(1)) in wanted:
                name = _REQ_NAME.match(req_part)
                if name:
                    needs.append(name.group(1))
    return Entry(kind, ep.name, module, attr, (), ",".join(extras) or None, summary, dist_name,
                 tuple(dict.fromkeys(needs)), {})


def _first_doc_line(obj: Any) -> str:
    doc = getattr(obj, "__doc__", None) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# --------------------------------------------------------------------------------------------
# the kinds
# --------------------------------------------------------------------------------------------

KINDS = ("backends", "loaders", "extractors", "rubrics", "judge_parsers", "judge_aggregators", "rewards", "commands")
"""The pluggable kinds; entry-point group ``mosseval.<kind>`` each."""


def all_registries() -> dict[str, Registry[Any]]:
    """Every kind's registry (all of their modules are light), for ``mosseval plugins`` and the docs."""
    from mosseval.cli.plugins import commands
    from mosseval.data import loaders
    from mosseval.judge.extensions import aggregators as judge_aggregators
    from mosseval.judge.extensions import parsers as judge_parsers
    from mosseval.judge.rubrics import rubric_sources
    from mosseval.models.registry import backends
    from mosseval.rewards import rewards
    from mosseval.scoring import extractors

    regs: dict[str, Registry[Any]] = {"backends": backends, "loaders": loaders, "extractors": extractors,
                                      "rubrics": rubric_sources, "judge_parsers": judge_parsers,
                                      "judge_aggregators": judge_aggregators, "rewards": rewards, "commands": commands}
    return {k: regs[k] for k in KINDS}


__all__ = ["Entry", "Registry", "KINDS", "all_registries", "BUILTIN"]
