"""Written answers are found however the student kept them; shape strings are read tolerantly."""

from __future__ import annotations

import pytest

from grader.answers import from_markdown, from_notebook
from grader.config import load_config
from grader.parts.part4_summary import normalise_shape

WRITTEN = {part.id: part.answer_names for part in load_config().all_parts if part.written}


def md(source: str, **metadata) -> dict:
    return {"cell_type": "markdown", "source": source, "metadata": metadata}


def test_tagged_cell_wins_and_placeholder_is_not_an_answer():
    cells = [md("## Part 5 / 第五部分: sequences"),
             md("### Part 5 answer / 第五部分作答\n*Write your answer here. / 在此作答。*", tags=["answer-part5"]),
             md("### Part 6 answer\nI learned a lot about shapes.", tags=["answer-part6"])]
    answers = from_notebook(cells, WRITTEN)
    assert answers["5"] == ""
    assert answers["6"] == "I learned a lot about shapes."


def test_rewritten_cell_is_found_by_its_heading_in_chinese():
    cells = [md("## 第四部分 总结"), md("### 第四部分作答\nRNNCell 只计算一个时间步。")]
    assert from_notebook(cells, WRITTEN)["4"] == "RNNCell 只计算一个时间步。"


def test_untagged_text_under_the_part_heading_is_collected_but_handout_text_is_not():
    handout = "Explain what a sequence is."
    cells = [md("## Part 5: sequences"), md(handout), md("A sequence is ordered data."), md("## Part 6: reflection")]
    assert from_notebook(cells, WRITTEN, {handout})["5"] == "A sequence is ordered data."


def test_answers_markdown_is_split_at_part_headings():
    text = "# My answers\n\n## Part 4\nsummary text\n### detail\nmore\n## Part 6\nreflection\n"
    answers = from_markdown(text, WRITTEN)
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


# Answers where a reader finds them (issue: answers not found in correct submissions).

def test_an_answer_in_the_same_cell_as_its_heading_is_found():
    cells = [md("## Part 4\nRNNCell computes one step.\n## Part 5\nA sequence is ordered data."),
             md("## Part 6\nI learned to read shapes.")]
    answers = from_notebook(cells, WRITTEN)
    assert answers == {"4": "RNNCell computes one step.", "5": "A sequence is ordered data.",
                       "6": "I learned to read shapes."}


def test_each_part_in_one_cell_with_the_handouts_full_heading():
    handout = ("## Part 5 / 第五部分: \"sequence\" and \"sequence to sequence\" / 谈谈“序列”与“序列到序列”\n\n"
               "Explain in your own words.")
    cells = [md(handout + "\n\n序列是有顺序的数据。"), md("## Part 6 / 第六部分: reflection / 心得体会")]
    assert from_notebook(cells, WRITTEN, {handout})["5"] == "序列是有顺序的数据。"


@pytest.mark.parametrize("heading", ["## 五、谈谈对序列的理解", "## 5. 序列与序列到序列", "## 5：序列",
                                     "### 第五题", "## 谈一谈对“序列”、“序列到序列”的理解"])
def test_chinese_and_bare_numbering_and_part_names(heading):
    cells = [md("## 四、总结 nn.RNNCell 与 nn.RNN\nRNNCell 一步,RNN 整个序列。"), md(heading),
             md("序列是有先后顺序的数据。"), md("## 六、心得体会\n本周学会了 RNN。")]
    answers = from_notebook(cells, WRITTEN)
    assert answers["5"] == "序列是有先后顺序的数据。", answers
    assert answers["4"] == "RNNCell 一步,RNN 整个序列。" and answers["6"] == "本周学会了 RNN。"


def test_a_write_ups_plain_numbered_titles_as_in_the_seed():
    cells = [md("4.简单总结nn.RNNCell、nn.RNN\nnn.RNNCell 处理一个时间步。"),
             md("5.谈一谈对“序列”、“序列到序列”的理解\n序列到序列把一个序列映射为另一个序列。"),
             md("6.总结本周理论课和作业,写心得体会\n收获很大。")]
    answers = from_notebook(cells, WRITTEN)
    assert answers["4"] == "nn.RNNCell 处理一个时间步。"
    assert answers["5"] == "序列到序列把一个序列映射为另一个序列。" and answers["6"] == "收获很大。"


def test_other_parts_headings_and_subsections_are_not_mistaken():
    cells = [md("## 2.实现“序列”到“序列”\nhello -> ohlol notes"), md("## Part 5\nfirst"),
             md("### 5.1 details\nsecond"), md("## Part 6\nthird")]
    answers = from_notebook(cells, WRITTEN)
    assert answers["5"] == "first\n\n### 5.1 details\nsecond" and answers["6"] == "third"


def test_answers_markdown_at_any_heading_level_and_numbering():
    text = "# 四、总结\nsummary\n### 五、序列\nsequence answer\n#### Part 6\nreflection\n"
    assert from_markdown(text, WRITTEN) == {"4": "summary", "5": "sequence answer", "6": "reflection"}


def test_where_the_answer_was_found_is_kept_for_the_reviewer():
    from grader.answers import locate_in_notebook

    cells = [md("intro"), md("## Part 5\nA sequence is ordered data.")]
    assert locate_in_notebook(cells, WRITTEN)["5"] == ("A sequence is ordered data.", [2])
