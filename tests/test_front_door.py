"""What a new user meets first, run the way the user runs it: one-line errors that print
every character of a path, the missing extra named in full by the installed script, shell
completion that completes, one spelling of the model and output in every command (the old
spellings still working, with one warning), a run folder that records what the console
showed and where it ran, a wheel whose metadata agrees with its license and citation file,
and a README that links to what exists and talks to users."""

from __future__ import annotations

import email
import json
import os
import platform
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import typer.main
import yaml
from conftest import tiny_overrides

import ccreid
from ccreid.cli import app
from ccreid.errors import InputError, UnknownNameError

REPO = Path(__file__).resolve().parents[1]
SCRIPT = Path(sys.executable).with_name("ccreid")
WEIRD = 'we[ird] "q" [red]x[/red].jpg'  # brackets, quotes and a rich tag (its "/" makes a folder)


def _ccreid(*args: object, patch: str | None = None, tmp: Path | None = None,
            **kw) -> subprocess.CompletedProcess:  # fmt: skip
    """The installed console script; ``patch`` is Python run first at start-up (as a
    ``sitecustomize`` module in ``tmp``), e.g. to hide an optional package."""
    if not SCRIPT.exists():
        pytest.fail(f"the console script {SCRIPT} is not installed (pip install -e .)")
    env = dict(os.environ)
    env.pop("PYTHONUNBUFFERED", None)  # a user's shell buffers a redirected stdout
    if patch is not None:
        (tmp / "sitecustomize.py").write_text(patch)
        env["PYTHONPATH"] = os.pathsep.join([str(tmp), env.get("PYTHONPATH", "")])
    kw.setdefault("capture_output", "stdout" not in kw)
    return subprocess.run([str(SCRIPT), *map(str, args)], text=True, env=env, timeout=600, **kw)


def _commands(group=None, prefix: str = "") -> dict[str, object]:
    """Every command and group of the CLI by its full name ("index build"); "" is the root."""
    group = group or typer.main.get_command(app)
    found = {prefix.strip(): group}
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):  # a group (typer may vendor its own click)
            found |= _commands(cmd, f"{prefix}{name} ")
        else:
            found[f"{prefix}{name}"] = cmd
    return found


def _leaves() -> dict[str, object]:
    return {k: c for k, c in _commands().items() if not hasattr(c, "commands")}


def _options(cmd) -> list[tuple[str, ...]]:
    """Each option's spellings, e.g. ("--model", "-m")."""
    return [(*p.opts, *p.secondary_opts) for p in cmd.params if p.param_type_name == "option"]


# --- messages print verbatim ---------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["eval", "--model", "{path}"],
        ["extract", "-m", "{path}", "-o", "{tmp}/f.npy"],
        ["masks", "show", "{path}", "--mask", "{tmp}/m.png", "-o", "{tmp}/o.png"],
        ["train", "{path}"],
    ],
    ids=["eval", "extract", "masks-show", "train"],
)
def test_a_missing_path_with_brackets_quotes_and_tags_prints_verbatim_in_one_line(
    args: list[str], tmp_path: Path
) -> None:
    path = tmp_path / WEIRD
    res = _ccreid(*(a.format(path=path, tmp=tmp_path) for a in args))
    assert res.returncode == 1, res.stderr
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(path) in lines[0], lines


@pytest.mark.parametrize(
    ("error", "printed"),
    [
        (InputError('[bold]x[/bold] "q"'), '[bold]x[/bold] "q"'),
        (UnknownNameError("'we[ird]' is not a name [red]"), "'we[ird]' is not a name [red]"),
        (FileNotFoundError(2, "No such file or directory", "a[b].jpg"),
         "a[b].jpg: No such file or directory"),
    ],
    ids=["input-error", "unknown-name", "os-error"],
)  # fmt: skip
def test_the_error_boundary_prints_each_kind_of_user_error_verbatim(
    error: Exception, printed: str, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*_a, **_k):
        raise error

    monkeypatch.setattr("ccreid.data.load_dataset", fail)
    res = cli("data", "stats", "vcclothes", ".", expect=1)
    assert res.err == f"error: {printed}\n"


@pytest.mark.parametrize(
    ("args", "module", "extra"),
    [
        (["parse", "{tmp}/images", "--out", "{tmp}/masks"], "transformers", "parse"),
        (["export", "onnx", "-m", "{tmp}/absent.safetensors", "-o", "{tmp}/m.onnx"], "onnx",
         "export"),
        (["serve", "{tmp}/absent.idx"], "uvicorn", "serve"),
    ],
    ids=["parse", "export", "serve"],
)  # fmt: skip
def test_a_missing_extra_is_named_in_full_by_the_installed_script(
    args: list[str], module: str, extra: str, tmp_path: Path
) -> None:
    hide = f"import sys\nsys.modules[{module!r}] = None  # as if it were not installed\n"
    (tmp_path / "images").mkdir()
    res = _ccreid(*(a.format(tmp=tmp_path) for a in args), patch=hide, tmp=tmp_path)
    assert res.returncode == 1, res.stderr
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert lines[0].endswith(f"needs the '{module}' package: pip install 'ccreid[{extra}]'")


# --- version, help, completion ---------------------------------------------------------------


def test_version_prints_the_installed_version_and_exits_0() -> None:
    import importlib.metadata

    res = _ccreid("--version")
    assert res.returncode == 0 and res.stdout == f"ccreid {ccreid.__version__}\n"
    assert importlib.metadata.version("ccreid") == ccreid.__version__


def test_h_shows_the_help_of_the_root_and_every_group() -> None:
    from typer.testing import CliRunner

    groups = [name for name, cmd in _commands().items() if hasattr(cmd, "commands")]
    assert {"", "data", "masks", "index", "export"} <= set(groups)
    for name in groups:
        res = CliRunner().invoke(app, [*name.split(), "-h"])
        assert res.exit_code == 0 and "Usage" in res.output and "Commands" in res.output, name


@pytest.mark.parametrize(
    ("line", "word", "expected"),
    [("ccreid tr", 1, "train"), ("ccreid index b", 2, "build"), ("ccreid eval --dev", 2, "--device")],
)  # fmt: skip
def test_bash_completion_completes_commands_subcommands_and_options(
    line: str, word: int, expected: str
) -> None:
    """What the script of `ccreid --show-completion bash` asks the console script."""
    env = {**os.environ, "_CCREID_COMPLETE": "complete_bash", "COMP_WORDS": line,
           "COMP_CWORD": str(word)}  # fmt: skip
    res = subprocess.run([str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and expected in res.stdout.split(), res.stdout + res.stderr
    root = {o for spellings in _options(_commands()[""]) for o in spellings}
    assert {"--install-completion", "--show-completion"} <= root


# --- one convention --------------------------------------------------------------------------


def test_a_short_flag_means_the_same_option_in_every_command() -> None:
    meaning: dict[str, set[str]] = {}
    for cmd in _leaves().values():
        for spellings in _options(cmd):
            longs = [s for s in spellings if s.startswith("--")]
            for short in (s for s in spellings if not s.startswith("--")):
                meaning.setdefault(short, set()).update(longs[:1])
    assert meaning.get("-m") == {"--model"} and meaning.get("-o") == {"--out"}
    assert all(len(longs) == 1 for longs in meaning.values()), meaning


def test_every_out_has_o_and_every_model_option_runs_on_a_chosen_device() -> None:
    """Rules over every command, so a new command is held to them too. `parse --model`
    names a SegFormer parser (a Hugging Face id), not a model of ccreid, so it keeps its
    long name only."""
    for name, cmd in _leaves().items():
        options = {o for spellings in _options(cmd) for o in spellings}
        if "--out" in options:
            assert "-o" in options, name
        if "--model" in options:
            assert "--device" in options, name
            assert "-m" in options or name == "parse", name


def test_json_goes_to_stdout_alone_and_messages_to_stderr(cli, tiny_synthetic: Path) -> None:
    masks = tiny_synthetic / "masks"
    for args in (["data", "stats", "vcclothes", tiny_synthetic, "--mask-root", masks, "--json"],
                 ["masks", "check", tiny_synthetic / "VC-Clothes", masks / "VC-Clothes",
                  "--json"]):  # fmt: skip
        res = cli(*args, expect=0)
        json.loads(res.out)  # nothing else on stdout


@pytest.fixture(scope="module")
def tiny_index(tiny_checkpoint: Path, tiny_synthetic: Path, tmp_path_factory) -> Path:
    """A flat index of the tiny gallery, built with today's spelling."""
    out = tmp_path_factory.mktemp("front-door") / "g.idx"
    gallery = tiny_synthetic / "VC-Clothes" / "gallery"
    res = _ccreid("index", "build", gallery, "-m", tiny_checkpoint, "-o", out, "--mask-root",
                  tiny_synthetic / "masks" / "VC-Clothes" / "gallery")  # fmt: skip
    assert res.returncode == 0, res.stderr
    return out


OLD_SPELLINGS = {
    "synth OUT": (["synth", "{tmp}/syn", "--ids", "2", "--test-ids", "2"], "--out"),
    "eval --checkpoint": (["eval", "--checkpoint", "{ckpt}", "--json"], "--model/-m"),
    "extract MODEL OUT": (["extract", "{ckpt}", "{tmp}/f.npy", "--split", "cc/query", "--json"],
                          "--model MODEL --out OUT"),
    "search --checkpoint": (["search", "{index}", "{query}", "--checkpoint", "{ckpt}",
                             "--mask-root", "{masks}", "--json"], "--model/-m"),
}  # fmt: skip


@pytest.mark.parametrize("spelling", list(OLD_SPELLINGS))
def test_an_old_spelling_still_works_and_warns_once_on_stderr(
    spelling: str, tiny_checkpoint: Path, tiny_synthetic: Path, tiny_index: Path, tmp_path: Path,
    cli,
) -> None:  # fmt: skip
    args, new = OLD_SPELLINGS[spelling]
    gallery = tiny_synthetic / "VC-Clothes" / "gallery"
    values = {"tmp": tmp_path, "ckpt": tiny_checkpoint, "index": tiny_index,
              "query": sorted(gallery.glob("*.jpg"))[0],
              "masks": tiny_synthetic / "masks" / "VC-Clothes" / "gallery"}  # fmt: skip
    res = cli(*(a.format(**values) for a in args), expect=0)
    warnings = [line for line in res.err.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and "is deprecated" in warnings[0] and new in warnings[0], res.err
    assert "warning" not in res.out
    if "--json" in args:
        json.loads(res.out)


def test_a_failed_command_ends_with_its_one_error_line_not_a_warning(cli, tmp_path) -> None:
    res = cli("eval", "--checkpoint", tmp_path / "absent.safetensors", expect=1)
    assert res.err.count("\n") == 1 and res.err.startswith("error: model "), res.err
    assert cli("--version", expect=0).err == ""  # the next command does not inherit its warning


def test_the_model_given_twice_by_both_spellings_is_a_usage_error(cli, tmp_path: Path) -> None:
    res = cli("eval", "-m", tmp_path / "a", "--checkpoint", tmp_path / "b", expect=2)
    assert "give the model once" in res.err


# --- a run folder records itself -------------------------------------------------------------


def _train_args(root: Path, out: Path) -> list[str]:
    return ["train", str(REPO / "configs" / "base.yaml"), *tiny_overrides(root, out)]


@pytest.fixture(scope="module")
def redirected_run(tiny_synthetic: Path, tmp_path_factory) -> dict:
    """`ccreid train ... > out.log`: stdout a file, not a terminal."""
    out = tmp_path_factory.mktemp("redirected")
    args = _train_args(tiny_synthetic, out)
    with (out / "out.log").open("w") as fh:
        res = _ccreid(*args, stdout=fh, stderr=subprocess.PIPE, cwd=out)
    assert res.returncode == 0, res.stderr
    shown = (out / "out.log").read_text().splitlines()
    return {"run": out / "tiny", "shown": shown, "args": args}


@pytest.mark.slow
def test_log_txt_holds_every_line_the_console_showed(redirected_run: dict) -> None:
    run, shown = redirected_run["run"], redirected_run["shown"]
    logged = (run / "log.txt").read_text().splitlines()
    # the console's extra lines: the closing pointer to the folder, and progress ticks
    rest = [line for line in shown if line not in logged]
    assert rest[-1:] == [f"run folder: {run}"], rest
    assert all("(step " in line for line in rest[:-1]), rest
    assert [line for line in shown if line in logged] == logged
    assert any(line.startswith("epoch 1/1  loss ") for line in logged)
    table = [line for line in logged if line.startswith("| ")]
    assert table[0].startswith("| setting | top-1 |") and table[-1].startswith("| cc | ")


@pytest.mark.slow
def test_environment_json_names_versions_machine_precision_commit_and_command(
    redirected_run: dict,
) -> None:
    import torch
    import torchvision

    env = json.loads((redirected_run["run"] / "environment.json").read_text())
    assert env["versions"]["ccreid"] == ccreid.__version__
    assert env["versions"]["torch"] == torch.__version__.split("+")[0]
    assert env["versions"]["torchvision"] == torchvision.__version__.split("+")[0]
    assert env["python"] == platform.python_version()
    assert re.fullmatch(r"cpu|cuda(:\d+)?", env["device"]) and env["precision"] == "fp32"
    processor = "cpu" if env["device"] == "cpu" else "gpu"
    assert isinstance(env["machine"][processor], str) and env["machine"][processor]
    assert env["command"][0].endswith("ccreid") and env["command"][1:] == redirected_run["args"]
    assert "git" in env
    if Path(ccreid.__file__).is_relative_to(REPO / "src") and (REPO / ".git").exists():
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()  # fmt: skip
        assert env["git"]["commit"] == head


# Ends the process the moment the results are about to be written, the way a killed job
# ends: os._exit flushes nothing, so only lines already written reach the file.
DIE_BEFORE_RESULTS = """
import os
from ccreid.runfolder import RunFolder
RunFolder.write_results = lambda *a, **k: os._exit(3)
"""


@pytest.mark.slow
def test_the_first_epoch_line_reaches_a_redirected_log_before_the_job_ends(
    tiny_synthetic: Path, tmp_path: Path
) -> None:
    from ccreid.data import load_dataset

    log = tmp_path / "out.log"
    with log.open("w") as fh:
        res = _ccreid(*_train_args(tiny_synthetic, tmp_path), patch=DIE_BEFORE_RESULTS,
                      tmp=tmp_path, stdout=fh, stderr=subprocess.PIPE)  # fmt: skip
    assert res.returncode == 3, res.stderr  # it died where the patch made it
    shown = log.read_text().splitlines()
    data = load_dataset("vcclothes", tiny_synthetic)
    assert re.match(rf"run folder {re.escape(str(tmp_path / 'tiny'))}; device \S+, precision fp32",
                    shown[0]), shown  # fmt: skip
    sizes = f"{len(data.train)} images of {data.num_train_pids} identities"
    assert shown[1].startswith(f"training on vcclothes: {sizes}"), shown
    assert any(line.startswith("epoch 1/1  loss ") for line in shown), shown


def test_eval_says_first_what_it_evaluates_on_what_data_and_where(
    cli, tiny_checkpoint: Path, tiny_synthetic: Path
) -> None:
    from ccreid.data import load_dataset

    everyone = load_dataset("vcclothes", tiny_synthetic).eval_sets["general"]  # all test images
    images = len(everyone.query) + len(everyone.gallery)
    res = cli("eval", "-m", tiny_checkpoint, expect=0)
    first = res.out.splitlines()[0]
    assert first.startswith(f"evaluating {tiny_checkpoint} on vcclothes ({images} images, 3 ")
    assert re.search(r": device \S+, precision \w+, batch \d+$", first), first


# --- the package says what it is -------------------------------------------------------------


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(out), str(REPO)], check=True, timeout=600)  # fmt: skip
    return next(out.glob("ccreid-*.whl"))


def _metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        return email.message_from_string(zf.read(name).decode())


@pytest.mark.slow
def test_the_wheels_metadata_says_what_the_package_is(wheel: Path) -> None:
    meta = _metadata(wheel)
    assert (meta["Name"], meta["Version"]) == ("ccreid", ccreid.__version__)
    assert meta["License-Expression"] == "MIT" and meta["Author"]
    assert "CRE" in meta["Summary"] and "BSGA" in meta["Summary"]
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL"))
    assert {"Homepage", "Source", "Documentation"} <= set(urls), urls
    assert all(u.startswith("https://") for u in urls.values())
    assert meta["Requires-Python"] == ">=3.10"
    assert "Programming Language :: Python :: 3" in meta.get_all("Classifier")


@pytest.mark.slow
def test_the_wheel_ships_the_license_it_declares(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        shipped = [n for n in zf.namelist() if n.endswith(".dist-info/licenses/LICENSE")]
        text = zf.read(shipped[0]).decode()
    assert text == (REPO / "LICENSE").read_text()
    assert text.splitlines()[0] == f"{_metadata(wheel)['License-Expression']} License"


@pytest.mark.slow
def test_the_citation_file_agrees_with_the_package(wheel: Path) -> None:
    meta = _metadata(wheel)
    cff = yaml.safe_load((REPO / "CITATION.cff").read_text())
    assert cff["cff-version"] and cff["title"] and cff["type"] == "software"
    assert cff["version"] == meta["Version"] and cff["license"] == meta["License-Expression"]
    assert [a["name"] for a in cff["authors"]] == meta["Author"].split(", ")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(cff["date-released"]))


# --- the README talks to users -----------------------------------------------------------------

# Words that tell how the work was done, not what the software does.
NARRATION = [r"\bSPEC\b", r"\.\./shared", r"(?i)\bissues? #?\d+", r"(?i)this session",
             r"(?i)\bcommit [0-9a-f]{7,40}\b", r"(?i)\bround of work\b"]  # fmt: skip


@pytest.mark.parametrize(
    "page", ["README.md", *sorted(p.name for p in (REPO / "docs").glob("*.md"))]
)
def test_the_readme_and_docs_tell_no_story_of_how_they_were_made(page: str) -> None:
    path = REPO / page if page == "README.md" else REPO / "docs" / page
    text = path.read_text()
    found = [m.group(0) for pattern in NARRATION for m in re.finditer(pattern, text)]
    assert not found, (page, found)


def test_every_link_of_the_readme_to_the_repository_exists() -> None:
    readme = (REPO / "README.md").read_text()
    links = re.findall(r"\]\(([^)\s]+)\)", readme)
    local = [link.split("#")[0] for link in links if not re.match(r"[a-z]+:", link)]
    assert local and all((REPO / link).exists() for link in local if link), local


def test_the_readme_names_the_method_and_its_headline_names_command_machine_and_date() -> None:
    readme = (REPO / "README.md").read_text()
    intro = readme.split("\n## ", 1)[0]
    for piece in ("CRE", "BSGA", "batch cross-clothes triplet loss", "(docs/method.md)"):
        assert piece in intro, piece
    headline = readme.split("## Headline result", 1)[1].split("\n## ", 1)[0]
    said = headline.split("|", 1)[0]  # what the text says before the table
    assert re.search(r"`(ccreid|make) [^`]+`", said) and re.search(r"\d{4}-\d{2}-\d{2}", said)
    assert "core" in said and "| variant |" in headline


# What the convention promises, written out here (not read from the code under test).
RUNS_A_MODEL = {"eval", "extract", "search", "serve", "index build", "index add", "export onnx"}
WRITES_AN_OUTPUT = {"demo", "synth", "extract", "visualize", "compare", "package", "study",
                    "masks show", "index build", "export onnx", "parse"}  # fmt: skip
PRINTS_RESULTS = {"parse", "demo", "train", "eval", "extract", "compare", "search", "package",
                  "study", "data stats", "masks check", "index build", "index add",
                  "export onnx"}  # fmt: skip


def test_every_command_follows_the_convention() -> None:
    commands = {name: {o for sp in _options(cmd) for o in sp} for name, cmd in _leaves().items()}
    assert set(commands) >= RUNS_A_MODEL | WRITES_AN_OUTPUT | PRINTS_RESULTS
    for name in RUNS_A_MODEL:
        assert {"--model", "-m", "--device"} <= commands[name], name
    for name in WRITES_AN_OUTPUT:
        assert {"--out", "-o"} <= commands[name], name
    for name in PRINTS_RESULTS:
        assert "--json" in commands[name], name
