"""The serial edge: Iridium SBD AT driver, NMEA reader, and a modem emulator on a pty."""
