#!/usr/bin/env bash
# The worked example of docs/tutorials/values.md: values, ignitions, an exclusion and a cost on a window of
# the Worcester, Vermont LANDFIRE sample. Run it from the repository root; it writes into $OUT (values-example).
# The vector files in docs/examples/ are made up for the example (see their "description").
set -euo pipefail
SAMPLE=${SAMPLE:-../shared/data/landfire-worcester-vt}
OUT=${OUT:-values-example}
E=docs/examples

# A 3 km x 3 km window (100 x 100 cells of 30 m) of the sample, as a tile on the sample's grid.
fuelbreak data tile --src "$SAMPLE" --bbox -72.60 44.39 -72.56 44.42 --size 100 --overlap 0 \
  --out "$OUT/window" --overwrite
TILE="$OUT/window/tile_00000.tif"

# The cost of treating each cell: 1 + 3 tan(slope) + 1 per km from the nearest road.
fuelbreak data cost --tile "$TILE" --roads "$E/roads.geojson" --out "$OUT/cost.tif"

# The plan: values at risk from places, fires starting near the roads, no treatment in the wilderness block.
fuelbreak plan --method tree_greedy --tile "$TILE" \
  --values "$E/places.geojson:value" --ignition-density "$E/roads.geojson" \
  --exclude "$E/exclusion.geojson" --cost "$OUT/cost.tif" \
  --budget 3% --weather dry-windy --out "$OUT/values_plan"

# The same, planned for what the places are worth, within a cost limit as well as the cell budget.
fuelbreak plan --method tree_greedy --tile "$TILE" \
  --values "$E/places.geojson:value" --ignition-density "$E/roads.geojson" \
  --exclude "$E/exclusion.geojson" --cost "$OUT/cost.tif" \
  --budget 3% --objective value --max-cost 400 --weather dry-windy --out "$OUT/values_plan_value"
