// sqllm/kernels/driver/all.inl — every driver, in dependency order. Included
// once per target inside its namespace by kernels/per_target.hpp; it includes
// nothing else (the dependencies are included before the namespace opens).
#include "common.inl"
#include "tile.inl"
#include "striped.inl"
#include "int8.inl"
#include "row_lanes.inl"
#include "dense.inl"
#include "argmin.inl"
#include "entry.inl"
