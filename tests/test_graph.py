"""gradcli graph: the recorded graph of the seeds' examples as JSON, tree, DOT and mermaid."""

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import gradcli as gc
from gradcli.cli.app import app
from gradcli.graph import describe, nodes, summary

ROOT = Path(__file__).resolve().parent.parent
DOUBLING = (ROOT / "samples" / "doubling.grad").read_text()
DOUBLING_AT = "x=[-0.9618, -3.3220, -0.6637]"
runner = CliRunner()


@pytest.fixture(autouse=True)
def at_root(monkeypatch):
    monkeypatch.chdir(ROOT)


def run(*args):
    return runner.invoke(app, list(args))


def graph_json(*args) -> dict:
    r = run("graph", *args, "--format", "json")
    assert r.exit_code == 0, (r.stdout, r.stderr)
    return json.loads(r.stdout, parse_constant=lambda name: pytest.fail(name))


def by_kind(doc, kind):
    return [n for n in doc["nodes"] if n["kind"] == kind]


def operations(doc):
    return [n["name"] for n in by_kind(doc, "operation")]


# -- JSON -----------------------------------------------------------------------------------


def test_mean_example():
    doc = graph_json("3*(x+2)**2 | mean", "--at", "x=ones(2,2)")
    assert doc["command"] == "graph" and doc["output"] == 0
    assert operations(doc) == ["MeanBackward0", "MulBackward0", "PowBackward0", "AddBackward0"]
    out = doc["nodes"][0]
    assert out["name"] == "MeanBackward0" and out["value"] == 27.0 and out["grad"] == 1.0
    assert out["shape"] == [] and out["requires_grad"] and not out["is_leaf"]
    assert out["operation"] == "mean" and out["text"] == "3*(x+2)**2 | mean"
    (x,) = by_kind(doc, "variable")
    assert x["name"] == "x" and x["is_leaf"] and x["requires_grad"]
    assert x["grad"] == [[4.5, 4.5], [4.5, 4.5]] and x["grad_summary"] == "all 4.5"
    constants = by_kind(doc, "constant")
    assert sorted(c["value"] for c in constants) == [2.0, 2.0, 3.0]
    assert all(c["grad"] is None and not c["requires_grad"] for c in constants)
    add = next(n for n in doc["nodes"] if n["name"] == "AddBackward0")
    assert add["text"] == "x+2" and add["position"] == {
        "line": 1,
        "col": 4,
        "end_line": 1,
        "end_col": 7,
    }
    assert add["grad"] == [[4.5, 4.5], [4.5, 4.5]]  # d out / d (x+2) = 3/2 (x+2)
    mul = next(n for n in doc["nodes"] if n["name"] == "MulBackward0")
    assert mul["grad"] == [[0.25, 0.25], [0.25, 0.25]]  # the mean's 1/4
    # every edge joins known nodes, as the inputs say
    ids = {n["id"] for n in doc["nodes"]}
    assert len(ids) == len(doc["nodes"]) == 8
    for e in doc["edges"]:
        assert e["from"] in ids and e["to"] in ids
        assert doc["nodes"][e["to"]]["inputs"][e["input"]] == e["from"]
    assert len(doc["edges"]) == sum(len(n["inputs"]) for n in doc["nodes"])


def test_affine_example_all_leaves():
    doc = graph_json("w*x + b", "--at", "x=1, w=2, b=3")
    assert operations(doc) == ["AddBackward0", "MulBackward0"]
    grads = {n["name"]: n["grad"] for n in by_kind(doc, "variable")}
    assert grads == {"x": 2.0, "w": 1.0, "b": 1.0}
    assert by_kind(doc, "constant") == []


def test_wrt_makes_other_variables_plain_leaves():
    doc = graph_json("3*x1*x1 + 9*x2", "--at", "x1=1, x2=2", "--wrt", "x2")
    assert operations(doc) == ["AddBackward0", "MulBackward0"]  # 3*x1*x1 is not recorded
    assert [n["name"] for n in by_kind(doc, "variable")] == ["x2"]
    assert by_kind(doc, "variable")[0]["grad"] == 9.0
    doc = graph_json("x1 * x2", "--at", "x1=1, x2=2", "--wrt", "x2")
    leaves = {n["name"]: n for n in by_kind(doc, "variable")}
    assert leaves["x2"]["grad"] == 1.0 and leaves["x2"]["requires_grad"]
    assert leaves["x1"]["grad"] is None and not leaves["x1"]["requires_grad"]


def test_shared_subgraph_listed_once():
    doc = graph_json("x*x + 3*x + 1", "--at", "x=2")
    (x,) = by_kind(doc, "variable")
    assert x["grad"] == 7.0
    assert sum(e["from"] == x["id"] for e in doc["edges"]) == 3  # x*x twice, 3*x once
    edges_from_x = [e["grad"] for e in doc["edges"] if e["from"] == x["id"]]
    assert sorted(edges_from_x) == [2.0, 2.0, 3.0]  # the parts of x.grad = 7


def test_doubling_loop_nine_multiplications():
    doc = graph_json(
        "-f", "samples/doubling.grad", "--at", DOUBLING_AT, "--v", "[0.1, 1.0, 0.0001]"
    )
    assert operations(doc) == ["MulBackward0"] * 9
    assert doc["nodes"][0]["names"] == ["y"]
    (x,) = by_kind(doc, "variable")
    np.testing.assert_allclose(x["grad"], [51.2, 512.0, 0.0512])  # J = 512·I
    assert doc["cotangent"] == [0.1, 1.0, 0.0001]
    assert [n["text"] for n in by_kind(doc, "operation")] == ["y*2"] * 8 + ["x*2"]


def test_json_flag_is_the_json_format():
    r = run("graph", "w*x + b", "--at", "x=1, w=2, b=3", "--json")
    assert r.exit_code == 0
    assert json.loads(r.stdout)["nodes"][0]["name"] == "AddBackward0"


def test_output_that_is_a_leaf_or_a_constant():
    doc = graph_json("x", "--at", "x=[1, 2]")
    assert [n["kind"] for n in doc["nodes"]] == ["variable"]
    assert doc["nodes"][0]["grad"] == [1.0, 1.0]
    doc = graph_json("2 + 3")
    assert [n["kind"] for n in doc["nodes"]] == ["constant"] and doc["cotangent"] is None


def test_large_arrays_are_summarised():
    doc = graph_json("x | sum", "--at", "x=ones(40, 40)")
    (x,) = by_kind(doc, "variable")
    assert x["value"] is None and x["summary"] == "all 1" and x["grad_summary"] == "all 1"


def test_errors_keep_their_exit_codes():
    r = run("graph", "x +", "--at", "x=1")
    assert r.exit_code == 2
    r = run("graph", "x + y", "--at", "x=1")
    assert r.exit_code == 1 and "no value for y" in r.stderr
    r = run("graph", "x", "--at", "x=1", "--points", "samples/points.ndjson")
    assert r.exit_code == 2


# -- the library side -----------------------------------------------------------------------


def test_nodes_topological_outputs_first():
    x = gc.tensor([1.0, 2.0], requires_grad=True)
    a = x * 2
    b = a + 1
    out = (a * b).sum()  # a feeds b and the product: a must come after both
    order = nodes(out)
    where = {n: i for i, n in enumerate(order)}
    assert where[a.grad_fn] > where[b.grad_fn] and order[0] is out.grad_fn


def test_describe_library():
    g = describe(gc.compile("sin(x) * y"), {"x": 0.0, "y": 2.0})
    assert g.counts() == {"MulBackward0": 1, "SinBackward0": 1, "variable": 2}
    assert {n.name: float(n.grad) for n in g.nodes if n.kind == "variable"} == {"x": 2.0, "y": 0.0}


def test_summary():
    assert summary(np.array(4.5)) == "4.5"
    assert summary(np.full((2, 2), 4.5)) == "all 4.5"
    assert summary(np.array([0.1, 1.0, 1e-4])) == "[0.1, 1, 0.0001]"
    assert summary(np.arange(10.0)) == "min 0, max 9, mean 4.5"
    assert summary(np.array([1.0, np.nan] * 5)).endswith("5 non-finite")


# -- tree, dot, mermaid ---------------------------------------------------------------------


def test_tree_mean():
    r = run("graph", "3*(x+2)**2 | mean", "--at", "x=ones(2,2)")
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert lines[0].startswith("MeanBackward0")
    for name in ("MulBackward0", "PowBackward0", "AddBackward0", "constant", ".grad all 4.5"):
        assert name in r.stdout


def test_tree_folds_the_doubling_chain():
    r = run("graph", "-f", "samples/doubling.grad", "--at", DOUBLING_AT)
    assert r.exit_code == 0
    assert "MulBackward0 × 9" in r.stdout and "a chain of 9" in r.stdout
    assert r.stdout.count("MulBackward0") == 2  # the folded line and its description
    full = run("graph", "-f", "samples/doubling.grad", "--at", DOUBLING_AT, "--no-fold")
    assert full.stdout.count("MulBackward0") == 9


def test_tree_refers_to_shared_subgraphs():
    r = run("graph", "exp(x) * exp(x) + exp(x)", "--at", "x=0")
    assert r.exit_code == 0
    assert "shown above" not in r.stdout  # three separate exp nodes: nothing shared
    assert r.stdout.count(" x  leaf") == 3  # leaves are repeated
    r = run("graph", "y = exp(x)\ny * y + y", "--at", "x=0")
    assert r.stdout.count("ExpBackward0") == 3 and r.stdout.count("shown above") == 2


def test_dot_text():
    r = run("graph", "w*x + b", "--at", "x=1, w=2, b=3", "--format", "dot")
    assert r.exit_code == 0
    text = r.stdout
    assert text.startswith("digraph gradcli {") and text.rstrip().endswith("}")
    assert "AddBackward0" in text and "MulBackward0" in text and "n1 -> n0" in text


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_dot_accepted_by_graphviz(tmp_path):
    for expr, at in [("3*(x+2)**2 | mean", "x=ones(2,2)"), ("x*x + 3*x + 1", "x=2")]:
        r = run("graph", expr, "--at", at, "--format", "dot")
        done = subprocess.run(["dot", "-Tsvg"], input=r.stdout.encode(), capture_output=True)
        assert done.returncode == 0, done.stderr
        assert b"<svg" in done.stdout
    target = tmp_path / "g.png"
    r = run("graph", "-f", "samples/doubling.grad", "--at", DOUBLING_AT, "-o", str(target))
    assert r.exit_code == 0, r.stderr
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_rendering_without_graphviz(monkeypatch, tmp_path):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    r = run("graph", "x*2", "--at", "x=1", "-o", str(tmp_path / "g.svg"))
    assert r.exit_code == 2
    assert "apt-get install graphviz" in r.stderr


def test_text_formats_to_files(tmp_path):
    for fmt, name in [
        ("mermaid", "g.mmd"),
        ("json", "g.json"),
        ("tree", "g.txt"),
        ("dot", "g.dot"),
    ]:
        target = tmp_path / name
        r = run("graph", "x*x", "--at", "x=3", "--format", fmt, "-o", str(target))
        assert r.exit_code == 0, r.stderr
        assert "MulBackward0" in target.read_text()
    assert json.loads((tmp_path / "g.json").read_text())["nodes"][0]["grad"] == 1.0


def test_mermaid():
    r = run("graph", "3*(x+2)**2 | mean", "--at", "x=ones(2,2)", "--format", "mermaid")
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert lines[0] == "flowchart TB"
    assert any(line.startswith('  n0["MeanBackward0') for line in lines)
    assert '  n6(["x<br/>leaf, requires_grad' in r.stdout
    assert "  n1 --> n0" in lines
    assert "class n0 output" in r.stdout
    assert '"' not in r.stdout.replace('["', "").replace('"]', "").replace('("', "").replace(
        '")', ""
    ).replace('[/"', "").replace('"/]', "")


# -- --explain ------------------------------------------------------------------------------


def explain_json(*args) -> list:
    r = runner.invoke(app, [*args, "--json"])
    assert r.exit_code == 0, (r.stdout, r.stderr)
    return json.loads(r.stdout)["explain"]


def test_every_primitive_has_a_rule_text():
    from gradcli.engine.ops import PRIMITIVES

    assert all(p.explain for p in PRIMITIVES.values())
    assert PRIMITIVES["mul"].explain == "g · other"
    assert PRIMITIVES["add"].explain == "g to each input"
    assert PRIMITIVES["exp"].explain == "g · out"


def test_explain_order_output_first_leaves_last():
    steps = explain_json("grad", "3*(x+2)**2 | mean", "--at", "x=ones(2,2)", "--explain")
    assert [s["node"] for s in steps] == [
        "MeanBackward0",
        "MulBackward0",
        "PowBackward0",
        "AddBackward0",
        "AccumulateGrad",
    ]
    assert [s["step"] for s in steps] == [1, 2, 3, 4, 5]
    mean, mul, pow_, add, leaf = steps
    assert mean["incoming"] == "1" and mean["outputs"] == [
        {"input": 0, "to": "MulBackward0", "gradient": "all 0.25"}
    ]
    assert mul["rule"] == "g · other" and mul["outputs"][0]["to"] == "PowBackward0"
    assert pow_["rule"].startswith("g · b · a^(b-1)") and pow_["text"] == "(x+2)**2"
    assert add["outputs"] == [{"input": 0, "to": "x", "gradient": "all 4.5"}]
    assert leaf["variable"] == "x" and leaf["gradient"] == "all 4.5"


def test_explain_several_leaves():
    steps = explain_json("grad", "w*x + b", "--at", "x=1, w=2, b=3", "--explain")
    assert [s["node"] for s in steps] == ["AddBackward0", "MulBackward0"] + ["AccumulateGrad"] * 3
    assert [s.get("variable") for s in steps[2:]] == ["w", "x", "b"]
    assert steps[1]["outputs"] == [
        {"input": 0, "to": "w", "gradient": "1"},
        {"input": 1, "to": "x", "gradient": "2"},
    ]


def test_explain_folds_the_doubling_chain():
    args = ("vjp", "-f", "samples/doubling.grad", "--at", DOUBLING_AT, "--v", "[0.1, 1.0, 0.0001]")
    folded = explain_json(*args, "--explain")
    assert len(folded) == 2
    chain, leaf = folded
    assert chain["node"] == "MulBackward0" and chain["count"] == 9
    assert chain["incoming"] == "[0.1, 1, 0.0001]" and chain["scale"] == "512"
    assert chain["outputs"] == [{"input": 0, "to": "x", "gradient": "[51.2, 512, 0.0512]"}]
    assert leaf["node"] == "AccumulateGrad" and leaf["gradient"] == "[51.2, 512, 0.0512]"
    full = explain_json(*args, "--explain=full")
    assert [s["node"] for s in full] == ["MulBackward0"] * 9 + ["AccumulateGrad"]
    assert all(s["count"] == 1 for s in full)
    assert full[0]["incoming"] == "[0.1, 1, 0.0001]" and full[1]["incoming"] == "[0.2, 2, 0.0002]"


def test_explain_human_view():
    r = run(
        "vjp",
        "-f",
        "samples/doubling.grad",
        "--at",
        DOUBLING_AT,
        "--v",
        "[0.1, 1.0, 0.0001]",
        "--explain",
        "--no-check",
    )
    assert r.exit_code == 0, r.stderr
    text = " ".join(r.stdout.split())
    assert text.index("vjp") < text.index("backward pass, step by step")
    assert "MulBackward0 × 9" in text and "g × 512" in text and "AccumulateGrad" in text
    r = run("grad", "--explain", "-x^2", "--at", "x=1", "--no-check")
    assert r.exit_code == 0 and "NegBackward0" in r.stdout


def test_explain_library_and_limits():
    r = gc.compile("exp(x)").grad(x=0.0, explain=True)
    assert [s["node"] for s in r.explain] == ["ExpBackward0", "AccumulateGrad"]
    assert r.explain[0]["rule"] == "g · out"
    assert gc.compile("exp(x)").grad(x=0.0).explain is None
    doc = json.loads(run("grad", "exp(x)", "--at", "x=0", "--json").stdout)
    assert "explain" not in doc
    r = run("grad", "x*2", "--points", "samples/points.ndjson", "--explain")
    assert r.exit_code == 2
