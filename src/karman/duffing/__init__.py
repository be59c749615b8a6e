"""The driven Duffing oscillator: response curves and force-sweep images whose targets
are the oscillator's parameters (ω0, γ, ε)."""
