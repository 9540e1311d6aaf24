#!/usr/bin/python3
"""An independent Modbus RTU slave for the interop test: Debian's
python3-pymodbus serving two thermometers on one serial path.

usage: slave.py PATH
Slave 1 is a Calex PyroUSB map (holding registers, 0x12 object 36.5 °C,
0x14 housing 24.8 °C, 0x15 status 0, 0x08 emissivity 0.95); slave 2 an
XY-MD02 (input registers, 1 = -7.5 °C, 2 = 41.2 %RH).
"""
import logging
import sys

from pymodbus.datastore import ModbusSequentialDataBlock, ModbusSlaveContext, ModbusServerContext
from pymodbus.server import StartSerialServer
from pymodbus.transaction import ModbusRtuFramer

logging.basicConfig(stream=sys.stderr, level=logging.WARNING)

def regs(n, values):
    block = [0] * n
    for addr, v in values.items():
        block[addr] = v & 0xFFFF
    return ModbusSequentialDataBlock(0, block)

calex = ModbusSlaveContext(
    hr=regs(0x20, {0x08: 9500, 0x12: 365, 0x13: 366, 0x14: 248, 0x15: 0}),
    ir=regs(0x20, {}), zero_mode=True)
xy = ModbusSlaveContext(
    hr=regs(0x10, {}), ir=regs(0x10, {1: -75, 2: 412}), zero_mode=True)
context = ModbusServerContext(slaves={1: calex, 2: xy}, single=False)

print("serving", flush=True)
StartSerialServer(context=context, framer=ModbusRtuFramer, port=sys.argv[1],
                  baudrate=9600, bytesize=8, parity="N", stopbits=1, timeout=0.05)
