"""Every autograded test of the assignment, described once.

One :class:`Test` per test cell ``grade_id``: its notebook, its points, the
check it runs, which of the student's functions it calls (by the role the
check gives them), the sizes it takes and the sizes its visible cell uses,
and whether it trains a model. Everything that needs to know the tests
reads this table: the self-checks in the notebooks (this package), the
grader (which adds other sizes drawn from the grading seed), the release
(which writes each test cell's comment from it), and the kit's own tests.

Nothing here is secret: it describes what the notebooks show.
"""
from __future__ import annotations

import dataclasses

DEEP_NB = "deep_rnn.ipynb"
BI_NB = "bidirectional_rnn.ipynb"

# The sizes the visible test cells use (the notebooks show these numbers).
VISIBLE = {"vocab_size": 28, "num_hiddens": 16, "num_layers": 2,
           "batch_size": 3, "num_steps": 5}
MODEL_SIZES = ("vocab_size", "num_hiddens", "num_layers")
RUN_SIZES = ("batch_size", "num_steps")
BI_SIZES = ("vocab_size", "num_hiddens")


@dataclasses.dataclass(frozen=True)
class Test:
    """One autograded test cell.

    Attributes:
        grade_id: the test cell's nbgrader grade_id (public contract).
        notebook: the notebook file that holds it.
        points: what it is worth (the cell's nbgrader points).
        check: the name of its check in :mod:`.checks`.
        roles: the check's names for the functions it calls -> the
            student's function names (``{"rnn": "deep_rnn", ...}``).
        sizes: the size arguments it takes, in order (hidden tests draw
            each of them again).
        trains: it trains a model (the longer time limit applies).
        what: what it checks, in English and in Chinese (the cell's
            comment).
        kwargs: fixed arguments of the check (e.g. ``num_directions``).
    """

    grade_id: str
    notebook: str
    points: float
    check: str
    roles: dict
    sizes: tuple = ()
    trains: bool = False
    what: tuple = ("", "")
    kwargs: dict = dataclasses.field(default_factory=dict)

    @property
    def api(self) -> str:
        """The self-check's name in ``rnn_checks``: the grade_id without
        ``test_``."""
        return self.grade_id.removeprefix("test_")

    @property
    def visible_sizes(self) -> dict:
        """The sizes of the visible test cell."""
        return {k: VISIBLE[k] for k in self.sizes}

    @property
    def functions(self) -> tuple:
        """The student's functions it calls, in order."""
        return tuple(self.roles.values())


_DEEP_SCRATCH = {"get_params": "get_deep_rnn_params",
                 "init_state": "init_deep_rnn_state", "rnn": "deep_rnn"}
_BI_SCRATCH = {"get_params": "get_birnn_params",
               "init_state": "init_birnn_state", "rnn": "birnn"}

TESTS: tuple[Test, ...] = (
    Test("test_deep_rnn_shapes", DEEP_NB, 2, "scratch_shapes", _DEEP_SCRATCH,
         MODEL_SIZES + RUN_SIZES,
         what=("the shapes of deep_rnn's outputs and of every layer's state",
               "deep_rnn 的输出和每一层隐状态的形状")),
    Test("test_deep_rnn_params", DEEP_NB, 2, "scratch_params",
         {"get_params": "get_deep_rnn_params"}, MODEL_SIZES,
         what=("the list get_deep_rnn_params returns: order, shapes, "
               "gradients, count",
               "get_deep_rnn_params 返回的列表：顺序、形状、梯度和参数个数")),
    Test("test_deep_rnn_matches_torch", DEEP_NB, 3, "scratch_reference",
         _DEEP_SCRATCH, MODEL_SIZES + RUN_SIZES,
         what=("deep_rnn against PyTorch's nn.RNN with the same parameters",
               "用相同参数将 deep_rnn 与 PyTorch 的 nn.RNN 比较")),
    Test("test_build_deep_lstm_shapes", DEEP_NB, 1, "model_shapes",
         {"build": "build_deep_lstm"}, MODEL_SIZES + RUN_SIZES,
         kwargs={"num_directions": 1},
         what=("the shapes of the deep LSTM's output and state (H, C)",
               "深度 LSTM 的输出和状态 (H, C) 的形状")),
    Test("test_build_deep_lstm_params", DEEP_NB, 1, "model_params",
         {"build": "build_deep_lstm"}, MODEL_SIZES,
         kwargs={"num_directions": 1},
         what=("the deep LSTM's trainable parameters against the formula",
               "深度 LSTM 的可训练参数个数与公式比较")),
    Test("test_build_deep_lstm_device", DEEP_NB, 1, "model_device",
         {"build": "build_deep_lstm"}, MODEL_SIZES,
         what=("that every tensor of the deep LSTM is on d2l.try_gpu() (a GPU "
               "if there is one, else the CPU)",
               "深度 LSTM 的每个张量都在 d2l.try_gpu() 给出的设备上")),
    Test("test_build_deep_lstm_perplexity", DEEP_NB, 2, "perplexity",
         {"build": "build_deep_lstm"}, (), trains=True,
         kwargs={"kind": "deep"},
         what=("that the deep LSTM learns: its perplexity after the grader's "
               "training recipe", "深度 LSTM 能够学习：按评分器的训练设置训练后的困惑度")),
    Test("test_birnn_shapes", BI_NB, 2, "scratch_shapes", _BI_SCRATCH,
         BI_SIZES + RUN_SIZES,
         what=("the shapes of birnn's outputs and of (H_f, H_b)",
               "birnn 的输出和 (H_f, H_b) 的形状")),
    Test("test_birnn_params", BI_NB, 2, "scratch_params",
         {"get_params": "get_birnn_params"}, BI_SIZES,
         what=("the list get_birnn_params returns: order, shapes, "
               "gradients, count",
               "get_birnn_params 返回的列表：顺序、形状、梯度和参数个数")),
    Test("test_birnn_matches_torch", BI_NB, 3, "scratch_reference",
         _BI_SCRATCH, BI_SIZES + RUN_SIZES,
         what=("birnn against nn.RNN(bidirectional=True), direction by "
               "direction", "逐个方向将 birnn 与 nn.RNN(bidirectional=True) 比较")),
    Test("test_build_bidirectional_lstm_shapes", BI_NB, 1, "model_shapes",
         {"build": "build_bidirectional_lstm"}, MODEL_SIZES + RUN_SIZES,
         kwargs={"num_directions": 2},
         what=("the shapes of the bidirectional LSTM's output and state",
               "双向 LSTM 的输出和状态的形状")),
    Test("test_build_bidirectional_lstm_params", BI_NB, 1, "model_params",
         {"build": "build_bidirectional_lstm"}, MODEL_SIZES,
         kwargs={"num_directions": 2},
         what=("the bidirectional LSTM's trainable parameters against the "
               "formula", "双向 LSTM 的可训练参数个数与公式比较")),
    Test("test_build_bidirectional_lstm_device", BI_NB, 1, "model_device",
         {"build": "build_bidirectional_lstm"}, MODEL_SIZES,
         what=("that every tensor of the bidirectional LSTM is on "
               "d2l.try_gpu() (a GPU if there is one, else the CPU)",
               "双向 LSTM 的每个张量都在 d2l.try_gpu() 给出的设备上")),
    Test("test_build_bidirectional_lstm_perplexity", BI_NB, 2, "perplexity",
         {"build": "build_bidirectional_lstm"}, (), trains=True,
         kwargs={"kind": "bidirectional"},
         what=("the bidirectional LSTM's (misleadingly low) perplexity after "
               "the grader's training recipe",
               "按评分器的训练设置训练后双向 LSTM 的（具有误导性的）低困惑度")),
    Test("test_leaks_future_causality", BI_NB, 3, "causality",
         {"leaks_future": "leaks_future"}, (),
         what=("leaks_future on the lesson's models (grading adds models you "
               "have not seen)", "leaks_future 对本课模型的判断（评分时还会用你没见过的模型）")),
)
BY_ID = {t.grade_id: t for t in TESTS}


def test(grade_id: str) -> Test:
    """The test ``grade_id`` (KeyError names the known ones)."""
    try:
        return BY_ID[grade_id]
    except KeyError:
        raise KeyError(f"{grade_id!r} is not a test of this assignment; "
                       f"tests: {', '.join(BY_ID)}") from None


def of_notebook(name: str) -> tuple[Test, ...]:
    """The tests of one notebook, in notebook order."""
    return tuple(t for t in TESTS if t.notebook == name)
