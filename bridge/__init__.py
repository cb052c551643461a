"""audioldm_daw.bridge: the doors into the engine (command line, OSC server, audition)."""
