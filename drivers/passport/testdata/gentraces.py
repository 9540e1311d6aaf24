#!/usr/bin/env python3
"""Writes the synthetic traces of drivers/passport/testdata/traces and the
fuzz seeds of testdata/fuzz.

The byte streams follow the framings of README.md; rows are ICAO 9303
specimens (Utopia) and variants of them. line-td3-specimen,
line-td3-bad-check and line-noise-between are hand-written and not touched
here. Run from drivers/passport: python3 testdata/gentraces.py
"""
import json

REC = "2026-11-01T09:00:00Z"

TD3 = ["P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10"]
TD1 = ["I<UTOD231458907<<<<<<<<<<<<<<<", "7408122F1204159UTO<<<<<<<<<<<6", "ERIKSSON<<ANNA<MARIA<<<<<<<<<<"]
TD2 = ["I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<", "D231458907UTO7408122F1204159<<<<<<<6"]
MRVA = ["V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L8988901C4XXX4009078F96121096ZE184226B<<<<<<"]
MRVB = ["V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<", "L8988901C4XXX4009078F9612109<<<<<<<<"]
# Check digit of the number wrong (6 -> 7): number and composite fail.
TD3_BAD = [TD3[0], TD3[1][:9] + "7" + TD3[1][10:]]
# OCR confusion: the 0 of the birth month read as O. Exactly one
# substitution (O -> 0 at row 2 position 16) makes every check pass.
TD3_OCR = [TD3[0], TD3[1][:15] + "O" + TD3[1][16:]]

STX, ETX, SOH = 0x02, 0x03, 0x01


def header(name, source, note, options, transport="serial"):
    h = {"trace": "kordon.trace/1", "device": "reader1", "driver": "mrz", "transport": transport,
         "options": options, "recorded": REC, "source": source, "note": note}
    return h


def dev(t, b):
    if isinstance(b, str):
        b = b.encode()
    if all(0x20 <= c < 0x7f or c in (0x0d, 0x0a) for c in b):
        return {"t": round(t, 3), "dev": b.decode()}
    return {"t": round(t, 3), "dev_hex": " ".join("%02x" % c for c in b)}


def note(t, text):
    return {"t": round(t, 3), "note": text}


# Traces whose meaning depends on their timing (torn frames, row gaps,
# pauses) are replayed in their own time by every runner.
PACED = {"3m-torn", "line-rows-separate", "line-torn-row", "wedge-noise", "line-trigger-late-boot", "line-overlong-noise", "line-orphan-rows"}


def write(name, h, events):
    if name in PACED:
        h = dict(h, replay={"speed": 1, "max_gap": 3})
    with open("testdata/traces/%s.jsonl" % name, "w") as f:
        f.write(json.dumps(h, ensure_ascii=False) + "\n")
        for e in events:
            f.write(json.dumps(e, ensure_ascii=False) + "\n")


def lines(t, rows, end="\r", gap=0.05):
    out = []
    for i, r in enumerate(rows):
        out.append(dev(t + i * gap, r + end))
    return out


# ---- line mode ----------------------------------------------------------

ev = [note(0, "the five ICAO specimens, LF only")]
t = 0.5
for doc in (TD1, TD2, TD3, MRVA, MRVB):
    ev += lines(t, doc, "\n")
    t += 1.0
write("line-all-formats", header("", "ICAO 9303 specimens TD1, TD2, TD3, MRV-A, MRV-B; line mode, LF", "every format decodes", {"framing": "line"}), ev)

ev = [note(0, "rows arrive separately: 300 ms apart (one document), then 2 s apart (two failed reads)")]
ev += [dev(0.5, TD3[0] + "\r\n"), dev(0.8, TD3[1] + "\r\n")]
ev += [dev(2.0, TD3[0] + "\r\n"), dev(4.0, TD3[1] + "\r\n"), note(5.5, "quiet: the lone bottom row has expired")]
write("line-rows-separate", header("", "TD3 specimen, CR LF, rows sent one by one with pauses", "rows within row_gap form a document; a row left alone is an incomplete read the officer sees", {"framing": "line", "row_gap": "500ms"}), ev)

ev = [note(0, "reader sends the top row only, then stops mid-row, then a good read")]
ev += [dev(0.5, TD1[0] + "\r"), dev(0.55, TD1[1] + "\r"), dev(0.6, TD1[2][:12]), note(1.5, "the third row never finishes")]
ev += lines(2.5, TD3) + [note(3.5, "end")]
write("line-torn-row", header("", "TD1 specimen whose third row is torn by a timeout, then the TD3 specimen, CR", "torn bytes are counted; the two complete rows become one incomplete read", {"framing": "line"}), ev)

ev = [note(0, "ICAO specimen with the birth month's 0 read as O")]
ev += lines(0.5, TD3_OCR, "\r\n")
write("line-ocr-confusion", header("", "TD3 specimen, OCR confusion O for 0 at row 2 position 16, CR LF", "one substitution explains every failing check: suspect, candidate offered, value kept as read", {"framing": "line"}), ev)

ev = [note(0, "reader reads only when told: the box sends R CR on open and after each read")]
ev += [{"t": 0.1, "host": "R\r"}] + lines(0.5, TD2, "\r")
ev += [{"t": 0.7, "host": "R\r"}] + lines(1.5, MRVB, "\r")
ev += [{"t": 1.7, "host": "R\r"}]
write("line-trigger", header("", "TD2 and MRV-B specimens from a reader that needs a trigger command, CR", "the replay waits for each trigger before the reader answers", {"framing": "line", "trigger": "R\r"}), ev)

ev = [note(0, "strict CR LF: a row ended by LF alone runs into the next one and is noise")]
ev += lines(0.5, TD3, "\r\n") + [dev(1.5, TD3[0] + "\n" + TD3[1] + "\r\n")] + lines(2.5, MRVA, "\r\n")
write("line-crlf-strict", header("", "TD3 and MRV-A specimens, CR LF, with one malformed read ending in LF only", "line_end crlf: the malformed read is one noise line, the others decode", {"framing": "line", "line_end": "crlf"}), ev)

ev = [note(0, "the reader is still booting when the box opens the port: the first trigger is lost")]
ev += [{"t": 0.1, "host": "R\r"}, note(1.0, "reader up, waiting to be asked")]
ev += [{"t": 2.1, "host": "R\r"}] + lines(2.5, TD3, "\r")
ev += [{"t": 2.8, "host": "R\r"}]
write("line-trigger-late-boot", header("", "TD3 specimen from a trigger-mode reader that boots after the box opened the port, CR", "the box re-sends the trigger while the reader is silent (trigger_every, default 2 s): the replay waits for the second R", {"framing": "line", "trigger": "R\r"}), ev)

ev = [note(0, "readers set to send the whole MRZ as one line, and readers padding rows with spaces")]
ev += [dev(0.5, "".join(TD3) + "\r\n"), dev(1.5, "".join(TD2) + "\r\n"), dev(2.5, "".join(TD1) + " \r\n")]
ev += lines(3.5, [r + "   " for r in TD3], "\r\n") + lines(4.5, [r + " " for r in MRVB], "\r")
write("line-one-line-spaces", header("", "TD3, TD2 and TD1 specimens each sent as one line (88, 72, 90 characters), then TD3 and MRV-B with trailing spaces", "every document decodes", {"framing": "line"}), ev)

ev = [note(0, "a garbage run: rows of different documents must never be paired")]
ev += [dev(0.5, TD3[1] + "\r\n")] + lines(0.55, TD3, "\r\n")
ev += [dev(1.5, TD2[0] + "\r\n")] + lines(1.55, MRVB, "\r\n")
ev += [dev(2.5, TD3_BAD[1] + "\r\n"), dev(2.55, TD3[1] + "\r\n")]
ev += [dev(3.5, TD1[1] + "\r\n")] + lines(3.55, TD1, "\r\n") + [note(4.5, "end")]
write("line-orphan-rows", header("", "orphan rows between ICAO specimens (TD3, MRV-B, TD1): a lone second row before a document, a lone first row of another document, two second rows in a row", "each orphan is a failed read of its own; every document decodes; no document fails its checks", {"framing": "line"}), ev)

NOISE = ("x9#qz-" * 60)[:250]
ev = [note(0, "250 bytes of unterminated printable noise, then at once a document; later binary noise, a pause, a document")]
ev += [dev(0.5, NOISE + TD3[0] + "\r\n" + TD3[1] + "\r\n")]
ev += [dev(1.5, bytes([0x80 + (i * 7) % 120 for i in range(260)])), dev(1.8, TD3[0] + "\r\n"), dev(1.85, TD3[1] + "\r\n")]
ev += [dev(3.0, NOISE), dev(3.3, TD2[0] + "\r\n"), dev(3.35, TD2[1] + "\r\n"), note(4.0, "end")]
write("line-overlong-noise", header("", "TD3 and TD2 specimens after 250-260 bytes of over-long unterminated noise (printable then at once; binary then a pause; printable then a pause)", "the noise is counted; the frame after it is never lost: three documents decode", {"framing": "line"}), ev)

# ---- STX/ETX blocks -------------------------------------------------------


def stx_block(rows, sod=None, eod=None):
    b = bytearray()
    if sod is not None:
        b.append(sod)
    b.append(STX)
    for r in rows:
        b += r.encode() + b"\r"
    b.append(ETX)
    if eod is not None:
        b.append(eod)
    return bytes(b)


ev = [note(0, "one block per document")]
t = 0.5
for doc in (TD3, TD1, MRVA):
    ev.append(dev(t, stx_block(doc)))
    t += 1.0
write("stx-clean", header("", "TD3, TD1 and MRV-A specimens in STX/ETX blocks, rows ended by CR", "every block is one document", {"framing": "stx"}), ev)

ev = [note(0, "DESKO CUTE style: FS before STX, GS after ETX")]
ev += [dev(0.5, stx_block(TD2, 0x1C, 0x1D)), dev(1.5, stx_block(TD3_BAD, 0x1C, 0x1D))]
write("stx-start-end", header("", "TD2 specimen and the bad-check TD3 in STX/ETX blocks framed by start/end-of-data bytes 0x1c/0x1d", "the start/end bytes are expected, not noise; the bad check digit is reported, not corrected", {"framing": "stx", "start_byte": 0x1C, "end_byte": 0x1D}), ev)

ev = [note(0, "noise before, between and inside the gaps of blocks")]
ev += [dev(0.1, b"\x00\xff\x13\x11garbage\r\n"), dev(0.5, stx_block(TD3)), dev(0.9, stx_block(["READY"])),
       dev(1.0, b"\x1b[A\r\n"), dev(1.5, stx_block(TD3_OCR)), dev(1.6, b"\xfe\xfe")]
write("stx-noise", header("", "TD3 specimen and its OCR-confused twin in STX/ETX blocks, with line noise and a status block between", "noise bytes and the READY block are counted; both documents decode", {"framing": "stx"}), ev)

ev = [note(0, "a block stops after its first row; later a new block starts before another one ended")]
ev += [dev(0.5, bytes([STX]) + (TD3[0] + "\r").encode()), note(1.5, "torn by the idle timeout")]
ev += [dev(2.0, bytes([STX]) + (TD1[0] + "\r" + TD1[1] + "\r").encode()), dev(2.1, stx_block(TD1))]
ev += [dev(3.0, bytes([STX]) + b"P<UTO"), note(4.0, "torn without one whole row: counted only")]
write("stx-torn", header("", "STX/ETX blocks torn by a pause and by a new STX, then a good TD1", "a torn block holding whole rows is an incomplete read; one without is counted", {"framing": "stx"}), ev)

# ---- 3M native blocks -----------------------------------------------------


def native_block(rows, flag=ord("0"), width=44, bcc_ok=True):
    lines3 = ([""] * (3 - len(rows))) + list(rows)  # bottom row always last
    text = b"".join(r.ljust(width, "_").encode() + b"\r" for r in lines3)
    body = b"OU" + bytes([STX, flag]) + text + bytes([ETX])
    n = len(body)
    lenb = bytes([n & 0xFF, n >> 8])
    bcc = 0
    for c in lenb + body:
        bcc ^= c
    if not bcc_ok:
        bcc ^= 0x5A
    return bytes([SOH]) + lenb + body + bytes([bcc])


ev = [note(0, "3M native: 2-row documents leave line 1 empty, rows padded with _")]
ev += [dev(0.5, native_block(TD3)), dev(1.5, native_block(TD1)), dev(2.5, native_block(MRVB))]
write("3m-clean", header("", "TD3, TD1 and MRV-B specimens in 3M-native length-prefixed blocks with BCC", "each block is one document", {"framing": "3m"}), ev)

ev = [note(0, "noise, a stray SOH with an impossible length, a corrupt block, a bad check digit")]
ev += [dev(0.1, b"\x00\x13READY\r\n"), dev(0.2, b"\x01\xff\xff"), dev(0.5, native_block(TD3)),
       dev(1.5, native_block(TD3, bcc_ok=False)), dev(2.5, b"\x01\x10\x00XYZ" + native_block(TD3_BAD))]
write("3m-noise-bcc", header("", "3M-native blocks: line noise, a stray SOH, the TD3 specimen, a block with a wrong BCC, a bad-header SOH right before the bad-check TD3", "noise and bad headers are counted; the corrupt block is a failed read; the rest decode", {"framing": "3m"}), ev)

blk = native_block(TD2)
ev = [note(0, "a block cut off by a pause, then the whole document again")]
ev += [dev(0.5, blk[:40]), note(1.5, "torn"), dev(2.0, blk), note(2.5, "end")]
write("3m-torn", header("", "TD2 specimen in a 3M-native block cut off after 40 bytes, then sent whole", "the cut block is an incomplete read; the whole one decodes", {"framing": "3m"}), ev)

# ---- USB keyboard wedge ---------------------------------------------------
# HID usage codes, boot-keyboard reports: [modifiers, 0, key, 0, 0, 0, 0, 0].

US = {}
for i, c in enumerate("abcdefghijklmnopqrstuvwxyz"):
    US[c.upper()] = (0x02, 0x04 + i)
for i, c in enumerate("1234567890"):
    US[c] = (0, 0x1E + i)
US["<"] = (0x02, 0x36)
DE = dict(US)
DE["Y"], DE["Z"] = (0x02, 0x1D), (0x02, 0x1C)
DE["<"] = (0, 0x64)


def usb(t, mod, key):
    return {"t": round(t, 4), "usb": {"ep": 0x81, "hex": "%02x 00 %02x 00 00 00 00 00" % (mod, key)}}


def typed(t, text, layout, dt=0.004):
    out = []
    for c in text:
        if c == "\n":
            mod, key = 0, 0x28
        else:
            mod, key = layout[c]
        out.append(usb(t, mod, key))
        out.append(usb(t + dt / 2, 0, 0))
        t += dt
    return out, t


ev = [note(0, "US layout: '<' is Shift+comma")]
e, t = typed(0.5, TD3[0] + "\n" + TD3[1] + "\n", US)
ev += e
e, t = typed(2.0, TD1[0] + "\n" + TD1[1] + "\n" + TD1[2] + "\n", US)
ev += e
write("wedge-us", header("", "USB keyboard-wedge reader, US layout, typing the TD3 and TD1 specimens (synthesised reports, 4 ms per key)", "rows end with Enter", {"framing": "wedge"}, "usb"), ev)

ev = [note(0, "German layout: '<' is the ISO key 0x64, Y and Z swapped (the TD3 specimen has a Z)")]
e, t = typed(0.5, TD3[0] + "\n" + TD3[1] + "\n", DE)
ev += e
write("wedge-de", header("", "USB keyboard-wedge reader set to German, typing the TD3 specimen", "decoded with layout de it is the specimen", {"framing": "wedge", "layout": "de"}, "usb"), ev)

ev = [note(0, "rollover and short reports, an F1 key in a noise line, a torn row, then the OCR-confused TD3")]
ev.append({"t": 0.1, "usb": {"ep": 0x81, "hex": "00 00 01 01 01 01 01 01"}})
ev.append({"t": 0.11, "usb": {"ep": 0x81, "hex": "00 00 04"}})
e, t = typed(0.2, "READY", US)
ev += e + [usb(t, 0, 0x3A), usb(t + 0.002, 0, 0), usb(t + 0.004, 0, 0x28), usb(t + 0.006, 0, 0)]
e, t = typed(0.5, TD3[1][:20], US)
ev += e + [note(1.5, "the reader stopped mid-row")]
e, t = typed(2.0, TD3_OCR[0] + "\n" + TD3_OCR[1] + "\n", US)
ev += e
write("wedge-noise", header("", "USB keyboard wedge, US layout: bad reports, a noise line with an unmapped key, a torn row, the OCR-confused TD3", "bad reports and torn rows are counted; the document is suspect with its candidate", {"framing": "wedge"}, "usb"), ev)

# ---- fuzz seeds (testdata/fuzz/<target>/<name>, Go's corpus format) ----

import os


def goq(b):
    out = '"'
    for c in b:
        if c == 0x22: out += '\\"'
        elif c == 0x5c: out += '\\\\'
        elif 0x20 <= c < 0x7f: out += chr(c)
        else: out += '\\x%02x' % c
    return out + '"'

def seed(target, name, data, cut):
    d = "testdata/fuzz/" + target
    os.makedirs(d, exist_ok=True)
    with open(d + "/" + name, "w") as f:
        f.write("go test fuzz v1\n[]byte(%s)\nbyte('\\x%02x')\n" % (goq(data), cut))

BAD, OCR = TD3_BAD, TD3_OCR
nb, sb = native_block, stx_block
seed("FuzzLineFramer", "td3-crlf", ("\r\n".join(TD3) + "\r\n").encode(), 7)
seed("FuzzLineFramer", "noise-and-torn", b"\x00\xff\x13READY\n" + TD1[0].encode() + b"\r" + TD1[1][:9].encode(), 3)
seed("FuzzLineFramer", "overlong", b"<" * 300 + b"\r" + TD3[0].encode(), 15)
seed("FuzzSTXFramer", "td1-start-end", sb(TD1, 0x1C, 0x1D), 5)
seed("FuzzSTXFramer", "torn-by-stx", b"\x02" + TD3[0].encode() + b"\r" + sb(TD3), 11)
seed("FuzzSTXFramer", "status-block", sb(["READY"]) + b"\xfe\xff" + sb(OCR), 2)
seed("Fuzz3MFramer", "td3", nb(TD3), 9)
seed("Fuzz3MFramer", "bad-bcc-then-good", nb(TD1, bcc_ok=False) + nb(TD2), 4)
seed("Fuzz3MFramer", "stray-soh", b"\x01\x10\x00XYZ\x01\xff\xff" + nb(BAD), 1)
seed("Fuzz3MFramer", "cut", nb(TD3)[:50], 6)
seed("FuzzSession", "line-td1", ("\r".join(TD1) + "\r").encode(), 7)
seed("FuzzSession", "line-lone-row", (TD3[1] + "\n").encode(), 15)
seed("FuzzSession", "stx-mixed-lengths", sb([TD3[0], TD2[1]]), 3)
seed("FuzzSession", "3m-ocr", nb(OCR), 12)
seed("FuzzSession", "3m-bad-bcc", nb(TD3, bcc_ok=False), 12)
