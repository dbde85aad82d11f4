"""Real result: a character-level LSTM language model learns Python's own source."""

import numpy as np

from pydl.examples.char_rnn import Vocabulary, load_text, main


def test_text_is_a_standard_library_module():
    text = load_text("argparse")
    assert "class ArgumentParser" in text
    vocab = Vocabulary(text)
    assert vocab.decode(vocab.encode("def parse_args")) == "def parse_args"


def test_per_character_loss_falls_and_the_model_writes(capsys):
    history = main(["--steps", "40", "--log-every", "10", "--hidden", "64", "--seq-len", "32",
                    "--batch-size", "8", "--sample-length", "80"])
    out = capsys.readouterr().out
    uniform = np.log(len(Vocabulary(load_text("argparse"))))
    assert history[0] > uniform - 1.0          # starts near guessing uniformly
    assert history[-1] < history[0] - 0.5      # and learns
    assert history[-1] < uniform - 1.0
    sample = out.split("sample:\n\n", 1)[1]
    assert sample.startswith("def ") and len(sample.rstrip("\n")) >= 80
