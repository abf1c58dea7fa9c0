"""UI-free core: everything that touches the world and turns it into immutable records.

Nothing under this package may import Textual; the TUI, the headless CLI and the tests all
consume the same records.
"""
