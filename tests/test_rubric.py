"""The rubric finds key points by what an answer says: agreement with a person's scores, phrasings,
negation, and the evidence a reviewer sees."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grader.config import ConfigError, load_config
from grader.parts.written import suggest

REPO = Path(__file__).resolve().parents[1]
ANSWERS = tomllib.loads((REPO / "tests" / "data" / "written_answers.toml").read_text(encoding="utf-8"))["answer"]
sys.path.insert(0, str(REPO / "bench"))
from rubric_agreement import measure  # noqa: E402


@pytest.fixture(scope="module")
def rubric():
    return load_config().rubric


def found(rubric, part: str, text: str) -> set[str]:
    return {hit.point.id for hit in suggest(rubric[f"part{part}"], text).found}


def test_the_rubric_agrees_with_a_persons_scores(capsys):
    result = measure("all")
    with capsys.disabled():
        print(f"\nrubric vs person: {result.share:.1%} of {result.decisions} key-point decisions, "
              f"kappa {result.kappa:.2f}, mean score gap {result.mean_score_gap:.1%}")
    assert result.share >= 0.95 and result.kappa >= 0.9, result.disagreements
    assert result.mean_score_gap <= 0.03


def test_each_answer_is_suggested_within_one_key_point_of_the_persons_score(rubric):
    for answer in ANSWERS:
        mine = found(rubric, answer["part"], answer["text"])
        assert abs(len(mine) - len(answer["points"])) <= 1, (answer["id"], mine ^ set(answer["points"]))


@pytest.mark.parametrize("phrase", ["两者长度不一定相同", "长度可以不一样", "输入和输出的长度可以不同",
                                    "输入输出长度不相等也没关系", "不需要输入和输出等长",
                                    "the output need not be as long as the input",
                                    "input and output lengths may differ", "the two lengths can vary"])
def test_the_length_point_in_its_many_phrasings(rubric, phrase):
    assert "lengths" in found(rubric, "5", f"序列到序列把一个序列映射为另一个序列，{phrase}。")


@pytest.mark.parametrize("text, point, expected", [
    ("seq2seq 需要编码器和解码器。", "encoder", True),
    ("这里的 seq2seq 不需要编码器。", "encoder", False),
    ("我们没有用到注意力机制。", "limits", False),
    ("We did not use attention in this homework.", "limits", False),
    ("后来的 Transformer 用注意力解决了这个问题。", "limits", True),
    ("seq2seq 要求输入和输出长度相同。", "lengths", False),
    ("The input and the output must have the same length.", "lengths", False),
    ("序列里元素的顺序不重要。", "order", False),
    ("For a sequence the order doesn't matter.", "order", False),
    ("序列里元素的顺序很重要。", "order", True),
    ("解码器不断地生成下一个字。", "decoder", True),  # 不断 only looks negative
    ("Not only the encoder but also the decoder is an RNN.", "encoder", True),
])
def test_negation_governs_only_its_own_term(rubric, text, point, expected):
    assert (point in found(rubric, "5", text)) is expected


def test_english_terms_match_at_word_starts(rubric):
    # "text" inside "context" is not an example of sequence data; "sentences" is.
    assert "examples" not in found(rubric, "5", "The decoder starts from the encoder's context.")
    assert "examples" in found(rubric, "5", "Sentences are sequences.")


def test_part4_the_last_time_step_is_not_one_time_step(rubric):
    assert "one_step" not in found(rubric, "4", "RNN 的 output 包含所有时间步，RNNCell 那样的 h_n 只是最后一个时间步。")
    assert "one_step" in found(rubric, "4", "RNNCell 只计算一个时间步。")
    assert "cell_vs_rnn" not in found(rubric, "6", "nn.RNNCell is new to me.")  # the cell's name holds "rnn"
    assert "cell_vs_rnn" in found(rubric, "6", "nn.RNNCell is one step, nn.RNN the loop.")


def test_each_found_point_carries_the_sentence_that_stated_it(rubric):
    text = "序列是有顺序的数据。序列到序列的输入和输出长度可以不一样，比如翻译。"
    quotes = {hit.point.id: hit.quote for hit in suggest(rubric["part5"], text).found}
    assert quotes["order"] == "序列是有顺序的数据。"
    assert quotes["lengths"] == "序列到序列的输入和输出长度可以不一样，比如翻译。"  # as written


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(ANSWERS), st.sampled_from(ANSWERS))
def test_another_sentence_never_takes_a_point_away(first, second):
    rubric = load_config().rubric
    alone = found(rubric, first["part"], first["text"])
    assert alone <= found(rubric, first["part"], first["text"] + "\n" + second["text"])


def test_a_malformed_pattern_is_a_configuration_error(tmp_path):
    from conftest import copy_assignment

    target = copy_assignment(tmp_path)
    rubric_file = target / "rubric.toml"
    rubric_file.write_text(rubric_file.read_text(encoding="utf-8").replace('any = ["tanh|双曲正切"]',
                                                                          'any = ["tanh| + 双曲正切"]'),
                           encoding="utf-8")
    with pytest.raises(ConfigError, match="empty term in pattern 'tanh. . 双曲正切'"):
        load_config(target)
