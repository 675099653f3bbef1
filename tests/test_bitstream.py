"""The hand-written arithmetic coder: round trips, size bounds against Σ -log2 p, gated bits."""
import math
import random

import pytest

from fewbits.coding import arithmetic as bs

TOTAL = 1 << bs.PRECISION


def ideal_bits(bits, freqs):
    """The reference code length: Σ -log2 p of each bit under the same integer table, in floats."""
    mask, ctx, total = len(freqs[0]) - 1 if freqs else 0, 0, 0.0
    for row, bit in zip(freqs, bits):
        p1 = row[ctx] / TOTAL
        total -= math.log2(p1 if bit else 1 - p1)
        ctx = ((ctx << 1) | bit) & mask
    return total


def round_trip(bits, freqs):
    data = bs.encode(bits, freqs)
    assert bs.decode(data, len(bits), freqs) == list(bits)
    assert 8 * len(data) <= 8 * math.ceil((ideal_bits(bits, freqs) + 2) / 8)
    return data


def test_named_cases():
    n = 256
    for freq in (1, 2, 2048, TOTAL - 2, TOTAL - 1):
        for bits in ([0] * n, [1] * n, [i % 2 for i in range(n)]):
            round_trip(bits, [[freq]] * n)
    assert round_trip([], []) == b"\x40"                               # the empty message: finish()'s 01
    round_trip([1], [[1]])                                             # a bit the model deems almost impossible
    round_trip([0, 1, 0], [[TOTAL - 1], [1], [TOTAL - 1]])


def test_uniform_256_bits_fit_in_32_bytes():
    rng = random.Random(1)
    for _ in range(200):
        bits = [rng.randint(0, 1) for _ in range(256)]
        assert len(round_trip(bits, [[TOTAL // 2]] * 256)) <= math.ceil((256 + 2) / 8)


def test_ten_thousand_random_messages():
    rng = random.Random(0)
    for trial in range(10_000):
        n = rng.choice([0, 1, 2, 7, 16, 64, 256, rng.randint(0, 400)])
        k = rng.choice([0, 1, 2])
        kind = trial % 4
        def freq():
            if kind == 0:
                return rng.randint(1, TOTAL - 1)                         # anything
            if kind == 1:
                return rng.choice([1, 2, 3, TOTAL - 3, TOTAL - 2, TOTAL - 1])   # near 0 and near 1
            return rng.randint(TOTAL // 4, 3 * TOTAL // 4)
        freqs = [[freq() for _ in range(1 << k)] for _ in range(n)]
        bits, ctx = [], 0
        for row in freqs:                                    # mostly likely bits, sometimes surprises
            p1 = row[ctx] / TOTAL
            bit = int(rng.random() < p1) if rng.random() < 0.95 else rng.randint(0, 1)
            bits.append(bit)
            ctx = ((ctx << 1) | bit) & ((1 << k) - 1)
        round_trip(bits, freqs)


def test_every_truncated_or_padded_payload_is_refused():
    """The codes are prefix-free (ArithmeticEncoder.finish), so no cut payload is another message's code."""
    rng = random.Random(2)
    bits = [rng.randint(0, 1) for _ in range(256)]
    freqs = [[TOTAL // 2]] * 256
    data = bs.encode(bits, freqs)
    for bad in [data[:cut] for cut in range(len(data))] + [data + b"\x00", data + b"\x80"]:
        with pytest.raises(bs.FormatError):
            bs.decode(bad, 256, freqs)


def test_invariants_hold_after_every_update():
    rng = random.Random(3)
    coder = bs.ArithmeticEncoder()
    for _ in range(5000):
        coder.update(rng.choice([1, 7, 2048, TOTAL - 1]), rng.randint(0, 1))
        assert 0 <= coder.low < bs.HALF <= coder.high <= bs.MASK
        assert not (bs.QUARTER <= coder.low and coder.high < 3 * bs.QUARTER)


def test_batched_coder_writes_the_same_bytes_as_the_reference():
    """encode_batch / decode_batch (numpy, many messages in lockstep) against encode / decode."""
    rng = random.Random(4)
    for trial in range(400):
        n, k = rng.choice([1, 8, 64, 256, rng.randint(1, 300)]), rng.choice([0, 1, 2])
        kind = trial % 3
        freqs = [[rng.choice([1, 2, TOTAL - 2, TOTAL - 1]) if kind == 1 else
                  TOTAL // 2 if kind == 2 else rng.randint(1, TOTAL - 1) for _ in range(1 << k)] for _ in range(n)]
        messages = [[rng.randint(0, 1) for _ in range(n)] for _ in range(rng.randint(1, 9))]
        messages += [[0] * n, [1] * n]
        payloads = bs.encode_batch(messages, freqs)
        assert payloads == [bs.encode(m, freqs) for m in messages]
        assert bs.decode_batch(payloads, n, freqs).tolist() == messages


def test_batched_decoder_accepts_and_refuses_what_the_reference_does():
    rng = random.Random(5)
    freqs = [[rng.randint(1, TOTAL - 1) for _ in range(4)] for _ in range(64)]
    for _ in range(300):
        data = bytes(rng.randrange(256) for _ in range(rng.randint(0, 12)))
        try:
            expected = bs.decode(data, 64, freqs)
        except bs.FormatError:
            with pytest.raises(bs.FormatError):
                bs.decode_batch([data], 64, freqs)
        else:
            assert bs.decode_batch([data], 64, freqs).tolist() == [expected]


def random_gated_message(rng, n, k):
    """Gates pointing at earlier bits (or -1), a message with every gated-off bit 0, and its table."""
    gates = [rng.randint(-1, i - 1) if rng.random() < 0.7 else -1 for i in range(n)]
    freqs = [[rng.randint(1, TOTAL - 1) for _ in range(1 << k)] for _ in range(n)]
    bits = []
    for i in range(n):
        bits.append(rng.randint(0, 1) if gates[i] < 0 or bits[gates[i]] else 0)
    return bits, freqs, gates


def test_gated_bits_cost_nothing_and_read_as_zero():
    """Reference: a gated message is coded exactly like the ungated message of its coded bits alone,
    each under the probability its context gives it (a one-entry row: no context needed)."""
    rng = random.Random(7)
    for trial in range(300):
        n, k = rng.choice([1, 8, 64, rng.randint(1, 200)]), rng.choice([0, 1, 2])
        bits, freqs, gates = random_gated_message(rng, n, k)
        coded, rows, ctx = [], [], 0
        for i, bit in enumerate(bits):
            if gates[i] < 0 or bits[gates[i]]:
                coded.append(bit)
                rows.append([freqs[i][ctx]])
            ctx = ((ctx << 1) | bit) & ((1 << k) - 1)                 # a gated-off bit shifts in a 0
        data = bs.encode(bits, freqs, gates)
        assert data == bs.encode(coded, rows)
        assert bs.decode(data, n, freqs, gates) == bits


def test_batched_coder_with_gates_writes_the_same_bytes_as_the_reference():
    rng = random.Random(8)
    for trial in range(100):
        n, k = rng.choice([1, 16, 100, rng.randint(1, 300)]), rng.choice([0, 2])
        _, freqs, gates = random_gated_message(rng, n, k)
        messages = []
        for _ in range(rng.randint(1, 9)):
            bits = []
            for i in range(n):
                bits.append(rng.randint(0, 1) if gates[i] < 0 or bits[gates[i]] else 0)
            messages.append(bits)
        payloads = bs.encode_batch(messages, freqs, gates)
        assert payloads == [bs.encode(m, freqs, gates) for m in messages]
        assert bs.decode_batch(payloads, n, freqs, gates).tolist() == messages


def test_contexts_read_at_offsets_back():
    """Reference: with offsets, a message is coded like its coded bits alone under one-entry rows,
    each the probability its context picks, the context read by hand from the bits that far back.
    The batched coder writes the same bytes, and both coders read them back."""
    rng = random.Random(9)
    for trial in range(150):
        n, k = rng.choice([1, 16, 100, rng.randint(1, 300)]), rng.choice([1, 2, 3])
        offsets = rng.sample(range(1, 40), k)
        _, freqs, gates = random_gated_message(rng, n, k)
        messages = []
        for _ in range(rng.randint(1, 5)):
            bits, coded, rows = [], [], []
            for i in range(n):
                bits.append(rng.randint(0, 1) if gates[i] < 0 or bits[gates[i]] else 0)
                if gates[i] < 0 or bits[gates[i]]:
                    ctx = sum(bits[i - back] << j for j, back in enumerate(offsets) if back <= i)
                    coded.append(bits[i])
                    rows.append([freqs[i][ctx]])
            data = bs.encode(bits, freqs, gates, offsets)
            assert data == bs.encode(coded, rows)
            assert bs.decode(data, n, freqs, gates, offsets) == bits
            messages.append(bits)
        payloads = bs.encode_batch(messages, freqs, gates, offsets)
        assert payloads == [bs.encode(m, freqs, gates, offsets) for m in messages]
        assert bs.decode_batch(payloads, n, freqs, gates, offsets).tolist() == messages


def test_a_gated_off_bit_that_is_one_is_refused():
    with pytest.raises(ValueError, match="gated off"):
        bs.encode([0, 1], [[TOTAL // 2]] * 2, gates=[-1, 0])
    with pytest.raises(ValueError, match="gated off"):
        bs.encode_batch([[0, 1]], [[TOTAL // 2]] * 2, gates=[-1, 0])
