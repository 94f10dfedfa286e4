#pragma once
// Everything a model file needs: #include <strata/dsl.h>, using namespace strata::dsl.
#include "frontend/layers.h"
#include "frontend/model.h"
