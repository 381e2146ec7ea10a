// Host emulation of the CUDA kernels in roi_pool.cu, for testing without a GPU.
//
// The kernel source is included unchanged; this file only supplies the CUDA
// built-ins it uses (thread/block indices, __syncthreads, the _rn arithmetic
// intrinsics, bit casts).  Each block runs as `blockDim` real std::threads
// meeting at a std::barrier, so the tiled kernel's two phases and its shared
// memory are exercised with genuine concurrency; blocks run one after another.
// Compile (tests/host/test_cuda_emulation.py does this):
//
//   g++ -std=c++20 -O1 -ffp-contract=off -fno-fast-math -fPIC -shared -pthread
//       host_emulation.cpp -o libroi_emu.so
//
// -ffp-contract=off: like -fmad=false on the device, no FMA contraction; on
// x86-64 float and double arithmetic are IEEE round-to-nearest (SSE2), which
// is what the __f*_rn / __d*_rn intrinsics specify.
//
// What this cannot check: anything specific to the hardware (warp scheduling,
// memory coalescing, real shared-memory banking, NVRTC's code generation).

#include <barrier>
#include <cmath>
#include <cstring>
#include <functional>
#include <thread>
#include <vector>

struct emu_dim3 {
  unsigned int x = 0, y = 0, z = 0;
};
thread_local emu_dim3 threadIdx;
emu_dim3 blockIdx, blockDim, gridDim;
static std::barrier<>* emu_barrier = nullptr;

#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__

static inline void __syncthreads() { emu_barrier->arrive_and_wait(); }
static inline float __uint_as_float(unsigned int u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
static inline unsigned int __float_as_uint(float f) {
  unsigned int u;
  std::memcpy(&u, &f, 4);
  return u;
}
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline float __fdiv_rn(float a, float b) { return a / b; }
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline double __dmul_rn(double a, double b) { return a * b; }
static inline double __ddiv_rn(double a, double b) { return a / b; }
static inline double __dadd_rn(double a, double b) { return a + b; }
static inline float __double2float_rn(double d) { return (float)d; }

// The dynamic shared memory of the block being run (512 KiB).
static const long long EMU_SMEM_BYTES = 1LL << 19;
double roi_smem[EMU_SMEM_BYTES / sizeof(double)];

#include "roi_pool.cu"

static void emu_launch(int grid, int block, const std::function<void()>& body) {
  gridDim.x = (unsigned)grid;
  blockDim.x = (unsigned)block;
  for (int b = 0; b < grid; ++b) {
    blockIdx.x = (unsigned)b;
    std::barrier<> bar(block);
    emu_barrier = &bar;
    std::vector<std::thread> threads;
    threads.reserve(block);
    for (int t = 0; t < block; ++t) {
      threads.emplace_back([t, &body] {
        threadIdx.x = (unsigned)t;
        body();
      });
    }
    for (auto& th : threads) th.join();
    emu_barrier = nullptr;
  }
}

// dtype codes: 0 f32, 1 f64, 2 f16, 3 bf16, 4 i8, 5 i16, 6 i32 (tests/host/test_cuda_emulation.py)
template <typename DT, int MODE>
static void emu_forward_t(int tiled, int grid, int block, const void* x, const long long* batch, const void* boxes,
                          double scale, int K, int C, int H, int W, int PH, int PW, void* out, long long* argmax) {
  typedef typename DT::storage_t T;
  typedef typename roi_coord<MODE>::coord_t CT;
  emu_launch(grid, block, [=] {
    if (tiled)
      roi_pool_forward_tiled<DT, MODE>((const T*)x, batch, (const CT*)boxes, scale, K, C, H, W, PH, PW, (T*)out,
                                       argmax);
    else
      roi_pool_forward_simple<DT, MODE>((const T*)x, batch, (const CT*)boxes, scale, K, C, H, W, PH, PW, (T*)out,
                                        argmax);
  });
}

template <typename DT>
static int emu_forward_dt(int mode, int tiled, int grid, int block, const void* x, const long long* batch,
                          const void* boxes, double scale, int K, int C, int H, int W, int PH, int PW, void* out,
                          long long* argmax) {
  switch (mode) {
    case 0: emu_forward_t<DT, 0>(tiled, grid, block, x, batch, boxes, scale, K, C, H, W, PH, PW, out, argmax); return 0;
    case 1: emu_forward_t<DT, 1>(tiled, grid, block, x, batch, boxes, scale, K, C, H, W, PH, PW, out, argmax); return 0;
    case 2: emu_forward_t<DT, 2>(tiled, grid, block, x, batch, boxes, scale, K, C, H, W, PH, PW, out, argmax); return 0;
    case 3: emu_forward_t<DT, 3>(tiled, grid, block, x, batch, boxes, scale, K, C, H, W, PH, PW, out, argmax); return 0;
  }
  return -1;
}

extern "C" {

long long emu_smem_bytes() { return EMU_SMEM_BYTES; }

int emu_forward(int dt, int mode, int tiled, int grid, int block, const void* x, const long long* batch,
                const void* boxes, double scale, int K, int C, int H, int W, int PH, int PW, void* out,
                long long* argmax) {
#define EMU_CASE(CODE, DT) \
  case CODE: return emu_forward_dt<DT>(mode, tiled, grid, block, x, batch, boxes, scale, K, C, H, W, PH, PW, out, argmax);
  switch (dt) {
    EMU_CASE(0, roi_f32)
    EMU_CASE(1, roi_f64)
    EMU_CASE(2, roi_f16)
    EMU_CASE(3, roi_bf16)
    EMU_CASE(4, roi_i8)
    EMU_CASE(5, roi_i16)
    EMU_CASE(6, roi_i32)
  }
#undef EMU_CASE
  return -1;
}

int emu_backward(int dt, int grid, int block, const long long* keys, long long n_keys, long long M,
                 const void* grad_out, void* grad_in) {
#define EMU_CASE(CODE, DT)                                                                                  \
  case CODE:                                                                                                \
    emu_launch(grid, block, [=] {                                                                           \
      roi_pool_backward_segments<DT>(keys, n_keys, M, (const DT::storage_t*)grad_out, (DT::storage_t*)grad_in); \
    });                                                                                                     \
    return 0;
  switch (dt) {
    EMU_CASE(0, roi_f32)
    EMU_CASE(1, roi_f64)
    EMU_CASE(2, roi_f16)
    EMU_CASE(3, roi_bf16)
  }
#undef EMU_CASE
  return -1;
}

// Scalar helpers, exported for exhaustive checks against NumPy.
float emu_half_to_float(unsigned short h) { return roi_half_to_float(h); }
unsigned short emu_float_to_half(float f) { return roi_float_to_half_rn(f); }
unsigned short emu_float_to_bf16(float f) { return roi_float_to_bf16_rn(f); }
int emu_f16_key(unsigned short bits, int bf16) { return roi_f16_key(bits, bf16 ? 0x7f80u : 0x7c00u); }

void emu_bin_range(int mode, int p, int origin, int extent, int pooled, int limit, int* s, int* e) {
  switch (mode) {
    case 0: roi_bin_range<0>(p, origin, extent, pooled, limit, s, e); break;
    case 1: roi_bin_range<1>(p, origin, extent, pooled, limit, s, e); break;
    case 2: roi_bin_range<2>(p, origin, extent, pooled, limit, s, e); break;
    case 3: roi_bin_range<3>(p, origin, extent, pooled, limit, s, e); break;
  }
}

// Scaled, C-rounded coordinate; `coord` points to one value of the mode's coordinate type.
int emu_scale_round(int mode, const void* coord, double scale) {
  switch (mode) {
    case 0: return roi_coord<0>::scale_round(*(const float*)coord, scale);
    case 1: return roi_coord<1>::scale_round(*(const float*)coord, scale);
    case 2: return roi_coord<2>::scale_round(*(const double*)coord, scale);
    case 3: return roi_coord<3>::scale_round(*(const unsigned short*)coord, scale);
  }
  return 0;
}

}  // extern "C"
