# Sourced by the scripts: one cargo target directory outside the clone, shared by every checkout
# on this machine (CI included), so a new clone does not rebuild every dependency.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/aegis-target}"
