"""`make mutants`: mutation testing of the code where a bug costs money, stock or trust.

mutmut (3.x) changes one thing at a time in the functions named below (a ``<`` into ``<=``,
a ``+ 1`` into ``+ 2``, a string into another, a call's argument into None...) and runs the
tests that reach that function: a test that fails *kills* the mutant, a mutant that every
test survives is a bug the suite would let through. Each module gets a score: the killed
share of its mutants that are not equivalent (docs/testing.md lists those, with why: a
change that cannot alter what the code does, so no test can tell).

One mutmut run per module, one after the other (each uses both cores, which are shared),
in mutants/<module>/: links to the project's packages and tests and a pyproject.toml made
from [tool.mutmut] plus the module's files and suites (MODULES below). A module's own
suites keep a surviving mutant cheap: it runs only the tests of those suites that call the
mutated function, not every API test that happens to pass through it. storefront_api and
analytics run in .venv with the SQLite cases (AISLE_SKIP_POSTGRES=1); the bot's variant
picking in .venv-bot, with its pure unit tests.

Every run starts from scratch: mutmut's cache keeps a verdict while the function is
unchanged even when the tests changed, and a release check must not trust a stale "killed".

    python scripts/mutants.py                 # every module, then the table (make mutants)
    python scripts/mutants.py --only funnel   # one module (its name or its folder's)
    python scripts/mutants.py --report        # the table of the last run again

Exits 1 when a module kills less than --min-score percent (default 90) of its
non-equivalent mutants.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from difflib import unified_diff
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAIN_PY = ROOT / ".venv" / "bin" / "python"
BOT_PY = ROOT / ".venv-bot" / "bin" / "python"
EQUIVALENTS_DOC = ROOT / "docs" / "testing.md"


@dataclass(frozen=True)
class Module:
    name: str
    what: str
    files: tuple[str, ...]      # the files mutmut mutates
    functions: tuple[str, ...]  # which of their functions (None: all), mutmut's names
    tests: tuple[str, ...]      # the suites that judge the mutants (their SQLite cases)
    bot: bool = False

    @property
    def slug(self) -> str:
        return re.sub(r"[^a-z]+", "-", self.name)

    @property
    def patterns(self) -> tuple[str, ...]:
        """mutmut names (fnmatch) of the functions and of their mutants: ``pkg.mod.x_name``,
        methods ``pkg.mod.xǁClassǁname``."""
        out = []
        for path in self.files:
            module = path.removesuffix(".py").replace("/", ".")
            for function in self.functions or ("*",):
                out.append(f"{module}.{function}" if function == "*" else
                           f"{module}.x{'' if function.startswith('ǁ') else '_'}{function}*")
        return tuple(out)


def _module(name, what, files, tests, functions=None, bot=False) -> Module:
    return Module(name, what, tuple(files), tuple(functions or ()), tuple(tests), bot)


# Each module: the functions that hold its rules (documents, listings and the wording of
# e-mails are left out: docs/testing.md), and the suites written for those rules. The
# mutants of a function are run against the tests of the module's suites that call it.
MODULES = (
    _module("pricing", "promo codes, shipping quotes, tax, totals",
            ["storefront_api/pricing/service.py"],
            ["tests/pricing/test_pricing_rules.py", "tests/pricing/test_shipping_tax.py",
             "tests/pricing/test_promo_codes.py"],
            ["normalise_code", "check_promo", "discount_for", "find_promo", "quote_shipping",
             "_method_order", "shipping_quotes", "shipping_quote", "tax_amount",
             "tax_rate_bp", "compute_totals", "mark_promo_used"]),
    _module("inventory", "what can be sold; holding, taking and restocking units",
            ["storefront_api/catalog/inventory.py"],
            ["tests/catalog/test_inventory.py", "tests/checkout/test_stock_holds.py",
             "tests/catalog/test_search_api.py"],
            ["_active", "_held", "_variants_where", "variants_by_ids", "reserve", "release",
             "consume", "release_expired", "restock"]),
    _module("stock holds", "units one client may hold in payment links",
            ["storefront_api/checkout/holds.py"],
            ["tests/checkout/test_hold_rules.py", "tests/checkout/test_stock_holds.py"],
            ["_lock_id", "_active_holds", "units_held", "check_room"]),
    _module("checkout completion", "the order born once, or the payment refunded",
            ["storefront_api/checkout/complete.py"],
            ["tests/payments/test_payment_webhook.py", "tests/checkout/test_expiry.py",
             "tests/payments/test_checkout_completion.py"],
            ["_quantities", "complete_checkout", "_close_siblings", "_sold_out_while_paying",
             "_refund_instead", "tell_payment_failed", "close_checkout", "_reindex",
             "checkout_by_gateway_session"]),
    _module("payment webhook", "events stored once, amounts checked, late payments refunded",
            ["storefront_api/payments/webhooks.py", "storefront_api/checkout/payment_events.py",
             "storefront_api/payments/refunds.py"],
            ["tests/payments/test_payment_webhook.py", "tests/payments/test_stripe_gateway.py",
             "tests/payments/test_webhook_rules.py", "tests/payments/test_checkout_completion.py"],
            ["verified_event", "check_event_shape", "receive_event", "_store",
             "ǁReceiptǁdocument", "receive_payment_event", "apply_event", "_paid",
             "_amount_problem", "_refund_for", "_pending_refund", "pay_back", "_ask", "record"]),
    _module("after-sales", "cancellations, returns, exchanges and their refunds",
            ["storefront_api/aftersales/service.py", "storefront_api/aftersales/refunds.py"],
            ["tests/aftersales", "tests/payments/test_stripe_gateway.py"],
            ["cancel_order", "last_change", "window_closes", "_units_claimed",
             "_exchange_variant", "request_return", "_move", "receive_return",
             "_take_replacements", "_value_received_before", "refund_for_units",
             "cancellation_key", "return_key", "new_refund", "issue", "_payment_reference",
             "retry", "settle", "_order_refunded", "money_went_back", "every_unit_refunded"]),
    _module("event scrub", "personal data kept out of events without analytics consent",
            ["storefront_api/events/service.py"],
            ["tests/events/test_event_rules.py", "tests/events/test_event_scrub.py"],
            ["personal_key", "personal_text", "_clean", "bounded_properties", "event_row",
             "ǁEventContextǁfrom_request"]),
    _module("consent", "X-Consent, decisions, the owner's confirmation of an address",
            ["storefront_api/consent/service.py", "storefront_api/consent/confirmation.py"],
            ["tests/customers/test_consent_decisions.py",
             "tests/customers/test_consent_confirmation.py"],
            ["parse", "from_header", "email_subject", "subjects", "record", "record_stated",
             "latest", "granted", "_key", "_signature", "sign_link", "read_link",
             "still_to_confirm", "mail_link", "ask_owner", "confirm"]),
    _module("audiences", "who goes into an ad audience: advertising consent, hashes",
            ["analytics/audience.py", "analytics/consent.py"],
            ["tests/analytics/test_audience.py"],
            ["normalise_email", "hash_email", "with_advertising", "audience_hashes",
             "audience_csv", "write_audience", "consents_source", "load_consents", "latest",
             "advertising_hashes", "advertising_consents"]),
    _module("cart recovery", "which abandoned carts get a reminder, on which channel",
            ["storefront_api/recovery/eligibility.py"],
            ["tests/recovery/test_eligibility.py", "tests/recovery/test_channel_windows.py"]),
    _module("funnel", "the funnel engine: steps, window, order modes, exclusions",
            ["analytics/funnel.py"], ["tests/analytics/test_funnel.py"],
            ["parse_duration", "step_matches", "breakdown_values", "_may_share_events",
             "prepare", "_sorted_log", "ǁ_Logǁ__init__", "ǁ_Logǁ_next_true",
             "ǁ_Logǁsame_unit", "_padded", "_ordered", "_strict", "_any_order", "_window_us",
             "_void", "_dominated", "_best_attempts", "_step_table", "_conversions",
             "_ratio", "_sort_breakdowns", "compute_funnel"]),
    _module("bot variant picking", "the variant meant by a size and a colour",
            ["bot/actions/add_to_cart.py"], ["bot/tests/actions/test_variant_picking.py"],
            ["_matching", "_values", "not_offered", "pick_variant", "options_in_text"],
            bot=True),
)

KILLED = {1, 3, 70}  # pytest: tests failed / internal error; 70: the mutant set off a
# fault test's crash point (storefront_api/faults.py: os._exit(70)) in every test
TIMEOUT = {36, -24, 24, 152, 255}  # mutmut's CPU or wall-clock limit: an endless loop
SURVIVED = {0}
NO_TESTS = {5, 33}  # no selected test reaches the function
WORK = ROOT / "mutants"  # one working directory per module, mutmut's copy inside


# --- running mutmut -------------------------------------------------------------------------

def _toml_list(values) -> str:
    return json.dumps(list(values))  # a list of plain strings is the same in TOML


def _settings(module: Module) -> str:
    """The module's pyproject.toml: pytest's settings from the project's, and mutmut's:
    the shared ones of [tool.mutmut] plus the module's files and suites."""
    project = (ROOT / "pyproject.toml").read_text()
    pytest_part = project[project.index("[tool.pytest.ini_options]"):]
    pytest_part = pytest_part[:pytest_part.index("\n[", 1) + 1]
    shared = project[project.index("[tool.mutmut]"):].split("\n[", 1)[0]
    mutated_roots = sorted({"/".join(f.split("/")[:2 if module.bot else 1])
                            for f in module.files})
    suites = [t for t in module.tests if (ROOT / t).exists()]
    # the bot's tests live beside its code, not in tests/ (which mutmut copies by itself)
    copies = sorted({str(Path(t).parent) for t in suites}) if module.bot else []
    return (f"{pytest_part}\n{shared.rstrip()}\n"
            f"source_paths = {_toml_list(mutated_roots)}\n"
            f"only_mutate = {_toml_list(module.files)}\n"
            f"also_copy = {_toml_list(copies)}\n"
            f"pytest_add_cli_args_test_selection = {_toml_list(suites)}\n")


def _prepare(module: Module) -> Path:
    """mutants/<module>/: the project's packages and tests (links), its own settings."""
    work = WORK / module.slug
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    for name in (("bot",) if module.bot else ("storefront_api", "analytics", "tests")):
        (work / name).symlink_to(ROOT / name, target_is_directory=True)
    (work / "pyproject.toml").write_text(_settings(module))
    return work


def run(module: Module) -> int:
    work = _prepare(module)
    python = BOT_PY if module.bot else MAIN_PY
    env = {**os.environ, "AISLE_SKIP_POSTGRES": "1", "RASA_TELEMETRY_ENABLED": "false"}
    env.pop("AISLE_REQUIRE_SERVICES", None)  # the SQLite cases only, by design
    # mutmut's own entry point (not `python -m mutmut`, which imports it twice)
    command = [str(python), "-c", "import sys; from mutmut.__main__ import cli; sys.exit(cli())",
               "run", "--max-children", "2", *module.patterns]
    print(f"\n==> {module.name}: mutmut in {work.relative_to(ROOT)}/ "
          f"({'.venv-bot' if module.bot else '.venv'})", flush=True)
    return subprocess.run(command, cwd=work, env=env).returncode


# --- reading the results --------------------------------------------------------------------

@dataclass
class Score:
    module: Module
    killed: int = 0
    timeout: int = 0
    survivors: list[str] = field(default_factory=list)
    no_tests: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)  # suspicious, segfault, not checked
    equivalent: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return (self.killed + self.timeout + len(self.survivors) + len(self.no_tests)
                + len(self.other) + len(self.equivalent))

    @property
    def counted(self) -> int:
        return self.total - len(self.equivalent)

    @property
    def percent(self) -> float:
        return 100.0 * (self.killed + self.timeout) / self.counted if self.counted else 0.0


def equivalent_mutants(doc: Path = EQUIVALENTS_DOC) -> dict[str, str]:
    """Mutant name -> why it is equivalent, from the table in docs/testing.md (rows that
    start with a mutant name in backquotes)."""
    found = {}
    if doc.exists():
        for line in doc.read_text().splitlines():
            row = re.match(r"\|\s*`([\w.ǁ]+__mutmut_\d+)`\s*\|(.*)\|\s*$", line)
            if row:
                found[row.group(1)] = row.group(2).split("|")[-1].strip()
    return found


def mutant_results(module: Module) -> dict[str, int | None]:
    """Every mutant of the module's last run: mutmut's exit code of its tests."""
    results = {}
    for meta in (WORK / module.slug / "mutants").rglob("*.py.meta"):
        results.update(json.loads(meta.read_text()).get("exit_code_by_key", {}))
    return {name: code for name, code in results.items()
            if any(fnmatch.fnmatchcase(name, p) for p in module.patterns)}


def scores(modules: list[Module]) -> tuple[list[Score], list[str]]:
    equivalents = equivalent_mutants()
    table, found = [], {}
    for module in modules:
        score = Score(module)
        results = mutant_results(module)
        found.update(results)
        for name, code in sorted(results.items(), key=lambda item: _natural(item[0])):
            if code in SURVIVED and name in equivalents:
                score.equivalent.append(name)
            elif code in KILLED:
                score.killed += 1
            elif code in TIMEOUT:
                score.timeout += 1
            elif code in SURVIVED:
                score.survivors.append(name)
            elif code in NO_TESTS:
                score.no_tests.append(name)
            else:
                score.other.append(name)
        table.append(score)
    # An equivalent listed in the doc that a test now kills (or that no longer exists) is
    # stale: say so, so that the list stays true.
    stale = sorted(n for n in equivalents if any(
        fnmatch.fnmatchcase(n, p) for m in modules for p in m.patterns)
        and found.get(n, -1) not in SURVIVED)
    return table, stale


def _natural(name: str) -> tuple:
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))


def mutant_diff(module: Module, name: str) -> str:
    """The lines mutmut changed, from the function's original and mutated copies that it
    writes into the mutated file (with an index of their line spans beside it)."""
    if True:
        for spans_file in (WORK / module.slug / "mutants").rglob("*.py.spans"):
            spans = json.loads(spans_file.read_text()).get("spans", {})
            local = name.rpartition(".")[2]
            original = local.rsplit("__mutmut_", 1)[0] + "__mutmut_orig"
            if local in spans and original in spans:
                lines = spans_file.with_suffix("").read_text().splitlines()

                def body(span):
                    return lines[span[0] - 1:span[1]][1:]  # without the def line
                changed = [line for line in unified_diff(body(spans[original]),
                                                         body(spans[local]), lineterm="", n=0)
                           if line[:1] in "+-" and line[:3] not in ("+++", "---")
                           and "__mutmut_" not in line]
                return "\n".join("        " + line.rstrip() for line in changed)
    return "        (no diff found)"


def print_report(table: list[Score], stale: list[str], min_score: float) -> bool:
    print()
    header = (f"{'module':<22} {'mutants':>7} {'killed':>6} {'timeout':>7} {'survived':>8} "
              f"{'no test':>7} {'equiv.':>6} {'score':>7}")
    print(header)
    print("-" * len(header))
    ok = True
    for s in table:
        flag = "" if s.percent >= min_score else \
            "  < goal" if s.total else "  not run (no results in mutants/)"
        ok &= s.percent >= min_score
        print(f"{s.module.name:<22} {s.total:>7} {s.killed:>6} {s.timeout:>7} "
              f"{len(s.survivors) + len(s.other):>8} {len(s.no_tests):>7} "
              f"{len(s.equivalent):>6} {s.percent:>6.1f}%{flag}")
    print(f"score = (killed + timeout) / (mutants - equivalent); goal {min_score:.0f} % "
          "per module. docs/testing.md explains each column.")
    for s in table:
        alive = s.survivors + s.other + s.no_tests
        if not alive:
            continue
        print(f"\n{s.module.name}: {len(alive)} mutant(s) no test kills "
              f"(`mutmut show NAME` in mutants/{s.module.slug}/ shows one in full)")
        for name in alive:
            kind = "no test reaches it" if name in s.no_tests else \
                "survived" if name in s.survivors else "suspicious"
            print(f"  {name}  [{kind}]")
            print(mutant_diff(s.module, name))
    if stale:
        print("\nListed as equivalent in docs/testing.md but no longer surviving "
              "(remove them from the list):")
        for name in stale:
            print(f"  {name}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", metavar="MODULE",
                        help="run (and report) only this module; repeatable")
    parser.add_argument("--report", action="store_true",
                        help="print the table of the last run without running anything")
    parser.add_argument("--min-score", type=float, default=90.0)
    args = parser.parse_args(argv)
    modules = [m for m in MODULES if not args.only or {m.name, m.slug} & set(args.only)]
    if not modules:
        parser.error(f"no such module; choose from: {', '.join(m.name for m in MODULES)}")
    started = time.monotonic()
    failed = []
    if not args.report:
        for module in modules:  # one at a time: each run uses both cores
            if run(module) != 0:
                failed.append(module.name)
    table, stale = scores(modules)
    ok = print_report(table, stale, args.min_score)
    if not args.report:
        print(f"\nmake mutants took {(time.monotonic() - started) / 60:.1f} minutes")
    if failed:
        print(f"mutmut could not run for: {', '.join(failed)} (see above)", file=sys.stderr)
        return 2
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
