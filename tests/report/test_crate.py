"""The run's RO-Crate (resnext.report.crate): what it holds, that roc-validator accepts it at the
REQUIRED level of the Provenance Run Crate profile offline, and that `resnext verify` checks its
hashes (a byte flipped in a file only the crate claims, or a claim edited, names that file only).

The crate is built by the real report on a fake results tree (report_fakes.py), so the hashes the
crate takes from the records (shards, checkpoints, predictions, graph) are the fake's invented
ones: the verify tests compare against that tree's own mismatches before the tamper.
"""

import io
import json
import os
import socket

import pytest
import requests
import urllib3

from report_fakes import write_tree
from resnext import paths
from resnext import verify as verify_mod
from resnext.report import build_report, crate

CONTEXT_11 = "https://w3id.org/ro/crate/1.1/context"
# RO-Crate 1.1's context maps these bioschemas terms without the /terms/ of 1.3's (the copy the
# rocrate package ships): the 1.1 document is that copy with these four put back
BIOSCHEMAS_11 = ("ComputationalWorkflow", "FormalParameter", "input", "output")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """(cfg, crate JSON) of a fake demo tree whose report (and crate) was built for real."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("RESNEXT_IMAGE_DIGEST", raising=False)
        mp.delenv("RESNEXT_REFERENCE", raising=False)
        cfg = write_tree(tmp_path_factory.mktemp("crate run"))
        written = build_report(cfg)
    with open(written["crate"], encoding="utf-8") as f:
        return cfg, json.load(f)


def _last_eval_step(cfg):
    names = os.listdir(paths.eval_dir(cfg.run_dir))
    return max(
        int(n[len("step-") : -len(".json")])
        for n in names
        if n.startswith("step-") and n.endswith(".json")
    )


def _graph(doc):
    return {e["@id"]: e for e in doc["@graph"]}


def _sha(path):
    import hashlib  # noqa: PLC0415

    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_the_crate_is_the_run_with_its_workflow_actions_and_hashes(run):
    cfg, doc = run
    graph = _graph(doc)
    root = graph["./"]
    assert {p["@id"] for p in root["conformsTo"]} == {url for url, _ in crate.PROFILES}
    assert root["mainEntity"] == {"@id": "workflow/Snakefile"}
    main = graph["workflow/Snakefile"]
    assert "ComputationalWorkflow" in main["@type"] and main["version"]  # the git commit
    assert os.path.isfile(os.path.join(cfg.run_dir, "workflow", "rules", "train.smk"))
    for entity in doc["@graph"]:  # every File: its sha256, or part of a checkpoint that has one
        if "File" in (entity["@type"] if isinstance(entity["@type"], list) else [entity["@type"]]):
            owner = graph[entity["isPartOf"]["@id"]] if "isPartOf" in entity else entity
            assert owner.get("sha256"), entity["@id"]
    step = _last_eval_step(cfg)
    for rel in (
        "config.resolved.yaml",
        "train/block-1.json",
        "report/report.md",
        "report/audit.json",
        "eval/step-%d.json" % step,
    ):
        assert graph[rel]["sha256"] == _sha(os.path.join(cfg.run_dir, rel)), rel
    block = json.load(open(paths.block_record(cfg.train_dir, 1)))
    action = graph["#action-train-%d" % block["end_step"]]
    assert (action["startTime"], action["endTime"]) == (block["started_utc"], block["finished_utc"])
    assert {"@id": "#checkpoint-%d" % block["end_step"]} in action["result"]
    evaluation = json.load(open(paths.eval_json(cfg.run_dir, step)))
    action = graph["#action-evaluate-%d" % step]
    assert action["endTime"] == evaluation["evaluated_utc"]
    assert graph["#checkpoint-%d" % step]["sha256"] == evaluation["checkpoint"]["sha256"]
    controls = graph["#organize"]["object"]
    assert len(controls) == len([e for e in doc["@graph"] if e["@id"].startswith("#action-")])
    assert graph["#software-tensorflow"]["version"] == block["versions"]["tensorflow"]


class _LocalContext(requests.adapters.BaseAdapter):
    """Answers every request with the RO-Crate 1.1 context made from rocrate's local copy."""

    def send(self, request, **kwargs):
        import rocrate  # noqa: PLC0415

        with open(
            os.path.join(os.path.dirname(rocrate.__file__), "data", "ro-crate.jsonld"),
            encoding="utf-8",
        ) as f:
            doc = json.load(f)
        for term in BIOSCHEMAS_11:
            doc["@context"][term] = "https://bioschemas.org/" + term
        raw = urllib3.HTTPResponse(
            body=io.BytesIO(json.dumps(doc).encode()),
            status=200,
            headers={"Content-Type": "application/ld+json"},
            preload_content=False,
            request_url=request.url,
        )
        return requests.adapters.HTTPAdapter().build_response(request, raw)

    def close(self):
        pass


def _prefill(cache):
    """The validator's HTTP cache (requests_cache, sqlite) holding the 1.1 context, no network."""
    from requests_cache import CachedSession  # noqa: PLC0415

    session = CachedSession(cache_name=cache, backend="sqlite", expire_after=-1)
    session.mount("https://", _LocalContext())
    assert session.get(CONTEXT_11, allow_redirects=True).status_code == 200
    session.close()


def test_roc_validator_accepts_it_offline_at_the_required_level(run, tmp_path, monkeypatch):
    from rocrate_validator import services  # noqa: PLC0415
    from rocrate_validator.models import ValidationSettings  # noqa: PLC0415

    cfg, _ = run
    cache = str(tmp_path / "http-cache")
    _prefill(cache)

    def no_network(*args, **kwargs):
        raise OSError("no network in this test")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    # roc-validator 0.13 misreads a crate path with a space (the root's @id no longer ends in
    # "/"), so it validates a copy at a plain path
    import shutil  # noqa: PLC0415

    plain = str(tmp_path / "crate")
    assert " " not in plain
    shutil.copytree(cfg.run_dir, plain)
    settings = ValidationSettings(
        rocrate_uri=plain,
        profile_identifier="provenance-run-crate-0.5",
        requirement_severity="REQUIRED",
        offline=True,
        cache_path=cache,
    )
    result = services.validate(settings)
    issues = ["%s: %s" % (i.check.identifier, i.message) for i in result.get_issues()]
    assert result.passed() and issues == []


def _mismatched(run_dir):
    return {m.path for m in verify_mod.verify(run_dir).mismatches}


@pytest.mark.parametrize(
    "rel", ["train/block-1.json", "workflow/rules/train.smk", "config.resolved.yaml"]
)
def test_verify_names_a_file_only_the_crate_claims(run, rel, tmp_path):
    import shutil  # noqa: PLC0415

    cfg, _ = run
    copy = str(tmp_path / "copy")
    shutil.copytree(cfg.run_dir, copy)
    before = _mismatched(copy)  # the fake tree's invented record hashes
    assert rel not in before
    with open(os.path.join(copy, rel), "r+b") as f:
        first = f.read(1)
        f.seek(0)
        f.write(bytes([first[0] ^ 1]))
    assert _mismatched(copy) - before == {rel}


def test_verify_names_the_file_whose_crate_claim_was_edited(run, tmp_path):
    import shutil  # noqa: PLC0415

    cfg, _ = run
    copy = str(tmp_path / "copy")
    shutil.copytree(cfg.run_dir, copy)
    before = _mismatched(copy)
    path = paths.crate_metadata(copy)
    doc = json.load(open(path))
    for entity in doc["@graph"]:
        if entity["@id"] == "report/report.md":
            entity["sha256"] = "0" * 64
    with open(path, "w") as f:
        json.dump(doc, f)
    assert _mismatched(copy) - before == {"report/report.md"}
