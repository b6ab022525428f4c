// The error types are header-only; this unit keeps their vtables in one object file.
#include "core/error.h"
