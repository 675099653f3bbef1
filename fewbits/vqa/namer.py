"""The namer: a strict easy-VQA judge that has to name the shape and its colour, then answers each
question from its template.

    namer = Namer(vocab, answer_names)
    train(namer, data, epochs, loss_of=lambda idx: namer.loss_on(data, idx))
    namer(x, qi, tokens)                   # one-hot logits (Q, answers), as any VQA model gives

A VQA model scores a question; a model can answer "is there a circle?" right about a box with
rounded bottom corners by being lenient on both circles and rectangles. The namer cannot: it
commits to one shape and one colour per image, and every question is then answered by the
executor alone. A decode passes only if its shape can be named.

easy-VQA's questions come from 24 templates (the easy-vqa package's generator): "what shape ...",
"what color ...", "what is the red shape?", and yes/no questions about one colour or one shape,
some negated ("is there not a red shape?", "does the image not contain a circle?", "is no circle
present?"). parse() reads each one; the labels to train on are read off the training questions.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

SHAPES = ("circle", "rectangle", "triangle")
COLORS = ("red", "green", "blue", "black", "gray", "teal", "brown", "yellow")


def parse(words):
    """A question's words -> (asked, word, negated): asked "shape" or "color" for a question that
    names one, or "yes/no" with the colour or shape word it is about and whether it is negated."""
    if words[0] == "what":
        return ("color" if "color" in words else "shape"), None, False
    word = next(w for w in words if w in SHAPES or w in COLORS)
    return "yes/no", word, "not" in words or "no" in words


def execute(question, shape, color):
    """The answer to a parsed question about an image of one `shape` in one `color`."""
    asked, word, negated = question
    if asked != "yes/no":
        return shape if asked == "shape" else color
    return "yes" if (word in (shape, color)) != negated else "no"


def labels_of(data):
    """(shape (N,), color (N,)) ids of each image, read off its questions and answers; -1 where no
    question tells (a "no" to "is there a circle?" doesn't say which shape it is)."""
    shape, color = torch.full((len(data),), -1), torch.full((len(data),), -1)
    for n, tokens, answer in zip(data.q_image.tolist(), data.q_tokens.tolist(), data.q_answer.tolist()):
        asked, word, negated = parse([data.vocab[t] for t in tokens if t > 0])
        said = data.answer_names[answer]
        if asked == "yes/no":
            said = word if (said == "yes") != negated else None
        if said in SHAPES:
            shape[n] = SHAPES.index(said)
        elif said in COLORS:
            color[n] = COLORS.index(said)
    return shape, color


class Namer(nn.Module):
    """A CNN to 4×4 cells, then an MLP: 3 shape logits and 8 colour logits per image."""

    def __init__(self, vocab, answer_names, width=32):
        super().__init__()
        self.args = dict(vocab=list(vocab), answer_names=list(answer_names), width=width)
        layers, c = [], 3
        for cout in (width, width, 2 * width, 2 * width):          # 64 -> 32 -> 16 -> 8 -> 4
            layers += [nn.Conv2d(c, cout, 3, stride=2, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]
            c = cout
        self.cnn = nn.Sequential(*layers, nn.Flatten(), nn.Linear(16 * c, 128), nn.ReLU(),
                                 nn.Linear(128, len(SHAPES) + len(COLORS)))
        self.labels = None                                            # the training labels, read once

    def heads(self, x):
        """(B, 3, 64, 64) -> shape logits (B, 3), colour logits (B, 8)."""
        return self.cnn(x - 0.5).split([len(SHAPES), len(COLORS)], dim=1)

    def loss_on(self, data, idx):
        """Cross-entropy on the shape and the colour of images idx, where their questions tell them."""
        if self.labels is None:
            self.labels = labels_of(data)
        shape_logits, color_logits = self.heads(data.images(idx))
        shape, color = (labels[idx] for labels in self.labels)
        return F.cross_entropy(shape_logits, shape, ignore_index=-1) + F.cross_entropy(color_logits, color, ignore_index=-1)

    @torch.no_grad()
    def forward(self, x, qi, tokens):
        """Logits (Q, A): 1 at the answer the question's template gives for the named shape and colour."""
        vocab, answers = self.args["vocab"], {a: i for i, a in enumerate(self.args["answer_names"])}
        shape_logits, color_logits = self.heads(x)
        names = [(SHAPES[s], COLORS[c]) for s, c in zip(shape_logits.argmax(1).tolist(), color_logits.argmax(1).tolist())]
        logits = torch.zeros(len(qi), len(answers), device=x.device)
        for q, (i, row) in enumerate(zip(qi.tolist(), tokens.tolist())):
            logits[q, answers[execute(parse([vocab[t] for t in row if t > 0]), *names[i])]] = 1.0
        return logits
