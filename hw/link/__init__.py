"""The host link: the UART wire format shared by gateware and host, and the host driver.

`protocol` (every constant and byte layout of the link), `host` (`python -m hw.run`: feed test
samples to a board and check its spikes against sim/), `image` (the flash image format of the
weights), `samples` and `bench` (the on-board benchmark's sample block, and its results against sim/).
"""
