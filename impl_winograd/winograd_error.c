#include "winograd.h"

/* The derivation and the measurements behind the constants are in
 * winograd.h. */
#define WG2_A 2.0
#define WG2_B 0.3
#define WG4_A 21.0
#define WG4_B 0.6

cnn_error_class cnn_winograd_error(int tile_m, cnn_pass pass)
{
    const bool f2 = tile_m <= 2;
    if (pass == CNN_BWD_WEIGHT)
        return (cnn_error_class){
            .kind = CNN_ERROR_WINOGRAD,
            .m = f2 ? 2 : 4,
            .r = 3,
            .a = f2 ? WG2_A : WG4_A,
            .b = f2 ? WG2_B : WG4_B,
            .s = 4.0,
        };
    return (cnn_error_class){
        .kind = CNN_ERROR_WINOGRAD,
        .m = f2 ? 2 : 4,
        .r = 3,
        .a = f2 ? 2.0 : 12.0,
        .b = f2 ? 0.4 : 2.5,
        .s = 4.0,
    };
}
