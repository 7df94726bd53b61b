"""Pictures of plans and training: overlays, Q-value evolution, burn probability, training summary, GIF.

Every function is a pure function of arrays (and a landscape) that writes one image atomically and
returns its path; matplotlib runs on the Agg canvas, so no screen is needed.
"""

from fuelbreak.viz.gif import episode_gif
from fuelbreak.viz.maps import plot_burn_probability, plot_overlay
from fuelbreak.viz.qvalues import plot_qvalue_evolution
from fuelbreak.viz.training import plot_training_summary, read_metrics

__all__ = [
    "episode_gif",
    "plot_burn_probability",
    "plot_overlay",
    "plot_qvalue_evolution",
    "plot_training_summary",
    "read_metrics",
]
