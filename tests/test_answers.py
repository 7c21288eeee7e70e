"""Written answers are found however the student kept them; shape strings are read tolerantly."""

from __future__ import annotations

import pytest

from grader.answers import from_markdown, from_notebook
from grader.parts.part4_summary import normalise_shape


def md(source: str, **metadata) -> dict:
    return {"cell_type": "markdown", "source": source, "metadata": metadata}


def test_tagged_cell_wins_and_placeholder_is_not_an_answer():
    cells = [md("## Part 5 / 第五部分: sequences"),
             md("### Part 5 answer / 第五部分作答\n*Write your answer here. / 在此作答。*", tags=["answer-part5"]),
             md("### Part 6 answer\nI learned a lot about shapes.", tags=["answer-part6"])]
    answers = from_notebook(cells)
    assert answers["5"] == ""
    assert answers["6"] == "I learned a lot about shapes."


def test_rewritten_cell_is_found_by_its_heading_in_chinese():
    cells = [md("## 第四部分 总结"), md("### 第四部分作答\nRNNCell 只计算一个时间步。")]
    assert from_notebook(cells)["4"] == "RNNCell 只计算一个时间步。"


def test_untagged_text_under_the_part_heading_is_collected_but_handout_text_is_not():
    handout = "Explain what a sequence is."
    cells = [md("## Part 5: sequences"), md(handout), md("A sequence is ordered data."), md("## Part 6: reflection")]
    assert from_notebook(cells, {handout})["5"] == "A sequence is ordered data."


def test_answers_markdown_is_split_at_part_headings():
    text = "# My answers\n\n## Part 4\nsummary text\n### detail\nmore\n## Part 6\nreflection\n"
    answers = from_markdown(text)
    assert answers["4"] == "summary text\n### detail\nmore"
    assert answers["5"] == ""
    assert answers["6"] == "reflection"


@pytest.mark.parametrize("text, expected", [
    ("(batch, input_size)", ("batch", "input_size")),
    ("[Batch_Size x Input_Size]", ("batch", "input_size")),
    ("(seq_len，batch，hidden_size)", ("seq_len", "batch", "hidden_size")),
    ("num_layers*batch_size*hidden_size", ("num_layers", "batch", "hidden_size")),
    ("(L, N, H_in)", ("seq_len", "batch", "input_size")),  # the PyTorch docs' names
    ("(batch, apples)", None),
    (42, None),
])
def test_normalise_shape(text, expected):
    assert normalise_shape(text) == expected
