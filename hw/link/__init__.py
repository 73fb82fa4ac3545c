"""The host link: the UART wire format shared by gateware and host, and the host driver.

`protocol` (every constant and byte layout of the link), `host` (`python -m hw.run`: feed test
samples to a board and check its spikes against sim/).
"""
