// Fast cycle-driven Verilator testbench for designs with the engine's AXI ports.
//
//   harness IN.bin OUT.bin [--wave FILE.fst|FILE.vcd]
//
// The C++ side knows only the standard port names (clk, rst, s_axis_roi_*,
// m_axis_out_*, m_axi_ar*/r*, s_axil_*); port widths and optional ports come
// from the generated "harness_config.h" (see sim/fast_harness/__init__.py).
// Everything engine-specific -- memory image, register writes, the start
// sequence, which register to poll for "done" -- is read from IN.bin, so this
// file never needs to change when the engine's register map does.
//
// Per clock cycle (one call of tick()):
//   1. clk=0, eval()  -> combinational logic settles on the inputs set last cycle
//   2. sample every valid/ready pair (values "at the rising edge")
//   3. clk=1, eval()  -> registers update
//   4. advance the C++ models on the sampled handshakes and drive new inputs
// Inputs never depend combinationally on the DUT's outputs of the same cycle,
// as AXI requires of valid signals (our ready signals are random, not derived
// from the DUT's valid).
//
// With HARNESS_INPUT_LATCH (the default build: the top is the wrapper from
// sim.fast_harness.input_latch_wrapper, which registers every input on the
// rising edge) steps 1 and 3 become one rising edge at the start of the next
// tick(), evaluated after step 4 has set the next inputs: the design sees
// the same inputs at the same edges, and Verilator evaluates the logic fed
// by inputs once per cycle instead of three times (see the wrapper's doc).
//
// File formats (little-endian; both start with a magic and a version and then
// hold sections: u32 tag, u32 0, u64 nbytes, payload):  see the Python side.

#include "harness_config.h"
#include "Vtop.h"
#include "verilated.h"
#if HARNESS_TRACE
#if HARNESS_TRACE_FST
#include "verilated_fst_c.h"
using TraceFile = VerilatedFstC;
#else
#include "verilated_vcd_c.h"   // FST needs liblz4-dev; VCD needs nothing extra
using TraceFile = VerilatedVcdC;
#endif
#endif

#include <chrono>
#include <ctime>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

// ---------------------------------------------------------------- constants
constexpr uint32_t MAGIC_IN = 0x49485052;   // "RPHI"
constexpr uint32_t MAGIC_OUT = 0x4F485052;  // "RPHO"
constexpr uint32_t VERSION = 1;

enum InTag : uint32_t { T_CONFIG = 1, T_MEMORY = 2, T_CFG_WRITES = 3, T_START_WRITES = 4,
                        T_FINAL_READS = 5, T_DESCRIPTORS = 6 };
enum OutTag : uint32_t { O_SUMMARY = 1, O_BEATS = 2, O_REGS = 3, O_ARLOG = 4, O_MESSAGES = 5, O_FRAME_ENDS = 6 };

// Config keys (must match sim/fast_harness/__init__.py: CONFIG_KEYS).
enum CfgKey : uint64_t {
    K_MAX_CYCLES = 1, K_SEED = 2, K_RESET_CYCLES = 3, K_LAT_MIN = 4, K_LAT_MAX = 5,
    K_MAX_OUTSTANDING = 6, K_P_ARREADY = 7, K_P_RVALID = 8, K_P_OUT_READY = 9,
    K_P_ROI_VALID = 10, K_DONE_REG = 11, K_DONE_MASK = 12, K_DONE_VALUE = 13,
    K_POLL_INTERVAL = 14, K_EXPECT_BEATS = 15, K_DRAIN_CYCLES = 16,
    K_STREAM_BEFORE_START = 17, K_RRESP_ERROR_BEAT = 18, K_RECORD_AR = 19,
    K_FINAL_READ_BUDGET = 20, K_PROGRESS_INTERVAL = 21, K_WAVE_CYCLES = 22,
};
// Summary keys (must match SUMMARY_KEYS on the Python side).
enum SumKey : uint64_t {
    S_STATUS = 1, S_CYCLES_TOTAL = 2, S_FIRST_DESC = 3, S_LAST_OUT = 4, S_CYCLES = 5,
    S_DESC_ACCEPTED = 6, S_BEATS = 7, S_AR_COUNT = 8, S_R_BEATS = 9, S_MAX_OUTST = 10,
    S_PROTOCOL_ERRORS = 11, S_BAD_READS = 12, S_WALL_NS = 13, S_POLLS = 14,
    S_DONE_CYCLE = 15, S_START_CYCLE = 16, S_SIM_CYCLES_PER_S = 17, S_CPU_NS = 18,
};
enum Status : uint64_t { ST_OK = 0, ST_TIMEOUT = 1, ST_ERROR = 2 };

constexpr int words_of(int bits) { return (bits + 31) / 32; }
constexpr int W_ROI = words_of(W_S_AXIS_ROI_TDATA);
constexpr int W_OUT = words_of(W_M_AXIS_OUT_TDATA);
constexpr int W_RDATA = words_of(W_M_AXI_RDATA);
constexpr int BUS_BYTES = W_M_AXI_RDATA / 8;
static_assert(W_M_AXI_RDATA % 8 == 0, "m_axi_rdata width must be whole bytes");

// --------------------------------------------- generic signal access
// Verilator maps a port of <= 8/16/32/64 bits to CData/SData/IData/QData and a
// wider one to VlWide<N> (N 32-bit words).  These overloads move a port's
// value to/from an array of 32-bit words whatever its width (up to any N),
// masking inputs to the declared width (Verilator assumes the unused top bits
// of an input are zero).
inline uint64_t mask64(int width) { return width >= 64 ? ~0ULL : ((1ULL << width) - 1); }

template <typename T>
inline void put(T& sig, const uint32_t* w, int width) {
    uint64_t v = w[0];
    if (sizeof(T) > 4 && width > 32) v |= uint64_t(w[1]) << 32;
    sig = static_cast<T>(v & mask64(width));
}
template <std::size_t N>
inline void put(VlWide<N>& sig, const uint32_t* w, int width) {
    for (std::size_t i = 0; i < N; ++i) sig[i] = w[i];
    if (width % 32) sig[N - 1] &= (1u << (width % 32)) - 1;
}
template <typename T>
inline void get(const T& sig, uint32_t* w) {
    uint64_t v = sig;
    w[0] = uint32_t(v);
    if (sizeof(T) > 4) w[1] = uint32_t(v >> 32);
}
template <std::size_t N>
inline void get(const VlWide<N>& sig, uint32_t* w) {
    for (std::size_t i = 0; i < N; ++i) w[i] = sig[i];
}

// Optional tlast ports: absent means "no frame boundaries" (always 0).
inline uint8_t out_last(const Vtop* top) {
#if HAS_M_AXIS_OUT_TLAST
    return top->m_axis_out_tlast;
#else
    (void)top;
    return 0;
#endif
}

// -------------------------------------------------------------- random
// 32-bit xorshift (a linear-feedback shift register generator): seeded,
// reproducible, one independent stream per traffic source.
struct Lfsr {
    uint32_t s;
    explicit Lfsr(uint64_t seed) : s(uint32_t(seed * 2654435761u) ^ 0x9E3779B9u) {
        if (!s) s = 1;
        for (int i = 0; i < 8; ++i) next();
    }
    uint32_t next() { s ^= s << 13; s ^= s >> 17; s ^= s << 5; return s; }
    // p is a probability in 1/65536 units; p >= 65536 is "always".
    bool chance(uint32_t p) { return p >= 65536 || (next() >> 16) < p; }
    uint32_t range(uint32_t lo, uint32_t hi) { return hi <= lo ? lo : lo + next() % (hi - lo + 1); }
};

// ------------------------------------------------------------ file I/O
struct Reader {
    const std::vector<uint8_t>& b;
    size_t pos = 0;
    template <typename T> T rd() {
        if (pos + sizeof(T) > b.size()) throw std::runtime_error("input file truncated");
        T v; std::memcpy(&v, &b[pos], sizeof(T)); pos += sizeof(T); return v;
    }
};

struct Writer {
    std::vector<uint8_t> b;
    template <typename T> void wr(T v) {
        size_t p = b.size(); b.resize(p + sizeof(T)); std::memcpy(&b[p], &v, sizeof(T));
    }
    void bytes(const void* d, size_t n) {
        size_t p = b.size(); b.resize(p + n); std::memcpy(&b[p], d, n);
    }
    size_t begin(uint32_t tag) { wr<uint32_t>(tag); wr<uint32_t>(0); wr<uint64_t>(0); return b.size(); }
    void end(size_t start) { uint64_t n = b.size() - start; std::memcpy(&b[start - 8], &n, 8); }
};

struct Region { uint64_t base; std::vector<uint8_t> data; };
struct RegOp { uint32_t addr, data; };
struct Burst { uint64_t addr; uint32_t len, beat; uint8_t size, burst; uint32_t id; uint64_t ready_at; };
struct ArLog { uint64_t cycle, addr; uint32_t len; uint8_t size, burst; uint16_t id; };

struct TimeoutError : std::runtime_error { using std::runtime_error::runtime_error; };

// ------------------------------------------------------------ the bench
struct Bench {
    // configuration
    uint64_t max_cycles = 1000000, seed = 1, reset_cycles = 8, lat_min = 1, lat_max = 1;
    uint64_t max_outstanding = 8, p_arready = 65536, p_rvalid = 65536, p_out_ready = 65536,
             p_roi_valid = 65536, done_reg = 0, done_mask = 0, done_value = 0, poll_interval = 16,
             expect_beats = 0, drain_cycles = 0, stream_before_start = 0, rresp_error_beat = 0,
             record_ar = 1, final_read_budget = 100000, progress_interval = 0, wave_cycles = 0;
    std::vector<Region> mem;
    std::vector<RegOp> cfg_writes, start_writes;
    std::vector<uint32_t> final_reads;
    std::vector<uint32_t> desc_words;   // W_ROI words per descriptor
    std::vector<uint8_t> desc_last;

    // model
    VerilatedContext* ctx;
    Vtop* top;
#if HARNESS_TRACE
    TraceFile* tfp = nullptr;
#endif
    uint64_t cycle = 0, limit = 0;
    Lfsr rng_ar{1}, rng_r{2}, rng_out{3}, rng_roi{4}, rng_lat{5};

    // stream source
    bool src_enabled = false;
    size_t desc_idx = 0;
    uint64_t first_desc_cycle = UINT64_MAX;
    // stream sink
    std::vector<uint32_t> beats;
    std::vector<uint8_t> beat_last;
    std::vector<uint64_t> frame_ends;   // cycle of each accepted tlast beat
    uint64_t last_out_cycle = UINT64_MAX;
    uint32_t prev_out[W_OUT];
    bool prev_out_stall = false;
    uint8_t prev_out_last = 0;
    // memory model
    std::deque<Burst> bursts;
    std::vector<ArLog> arlog;
    uint64_t ar_count = 0, r_beats = 0, max_outst_seen = 0, bad_reads = 0, protocol_errors = 0;
    bool prev_ar_stall = false;
    uint64_t prev_araddr = 0; uint32_t prev_arlen = 0;
    size_t last_region = 0;
    // AXI-Lite handshakes sampled in the last tick
    bool aw_fire = false, w_fire = false, b_fire = false, lar_fire = false, lr_fire = false;
    uint32_t lr_data = 0, lr_resp = 0, b_resp = 0;
    std::vector<std::string> messages;

    Bench() : ctx(new VerilatedContext), top(nullptr) {}

    void message(const std::string& m) {
        if (messages.size() < 32) messages.push_back("cycle " + std::to_string(cycle) + ": " + m);
    }
    void protocol(const std::string& m) { ++protocol_errors; message("protocol: " + m); }

    // ---- parsing
    void load(const std::vector<uint8_t>& b) {
        Reader r{b};
        if (r.rd<uint32_t>() != MAGIC_IN) throw std::runtime_error("bad input magic");
        if (r.rd<uint32_t>() != VERSION) throw std::runtime_error("input version mismatch");
        while (r.pos < b.size()) {
            uint32_t tag = r.rd<uint32_t>(); r.rd<uint32_t>();
            uint64_t n = r.rd<uint64_t>();
            size_t end = r.pos + n;
            if (end > b.size()) throw std::runtime_error("section overruns input file");
            switch (tag) {
            case T_CONFIG:
                while (r.pos < end) { uint64_t k = r.rd<uint64_t>(), v = r.rd<uint64_t>(); set(k, v); }
                break;
            case T_MEMORY: {
                Region reg; reg.base = r.rd<uint64_t>();
                reg.data.assign(b.begin() + r.pos, b.begin() + end); r.pos = end;
                mem.push_back(std::move(reg));
                break;
            }
            case T_CFG_WRITES: case T_START_WRITES: {
                auto& v = tag == T_CFG_WRITES ? cfg_writes : start_writes;
                while (r.pos < end) { RegOp op; op.addr = r.rd<uint32_t>(); op.data = r.rd<uint32_t>(); v.push_back(op); }
                break;
            }
            case T_FINAL_READS:
                while (r.pos < end) final_reads.push_back(r.rd<uint32_t>());
                break;
            case T_DESCRIPTORS: {
                uint32_t wpb = r.rd<uint32_t>(); r.rd<uint32_t>();
                if (wpb != uint32_t(W_ROI))
                    throw std::runtime_error("descriptor words per beat " + std::to_string(wpb) +
                                             " != " + std::to_string(W_ROI) + " (s_axis_roi_tdata width)");
                while (r.pos < end) {
                    for (int i = 0; i < W_ROI; ++i) desc_words.push_back(r.rd<uint32_t>());
                    desc_last.push_back(uint8_t(r.rd<uint32_t>() & 1));
                }
                break;
            }
            default: r.pos = end;   // unknown sections are skipped (forward compatible)
            }
            if (r.pos != end) throw std::runtime_error("malformed section " + std::to_string(tag));
        }
    }
    void set(uint64_t k, uint64_t v) {
        switch (k) {
        case K_MAX_CYCLES: max_cycles = v; break;       case K_SEED: seed = v; break;
        case K_RESET_CYCLES: reset_cycles = v; break;   case K_LAT_MIN: lat_min = v; break;
        case K_LAT_MAX: lat_max = v; break;             case K_MAX_OUTSTANDING: max_outstanding = v; break;
        case K_P_ARREADY: p_arready = v; break;         case K_P_RVALID: p_rvalid = v; break;
        case K_P_OUT_READY: p_out_ready = v; break;     case K_P_ROI_VALID: p_roi_valid = v; break;
        case K_DONE_REG: done_reg = v; break;           case K_DONE_MASK: done_mask = v; break;
        case K_DONE_VALUE: done_value = v; break;       case K_POLL_INTERVAL: poll_interval = v; break;
        case K_EXPECT_BEATS: expect_beats = v; break;   case K_DRAIN_CYCLES: drain_cycles = v; break;
        case K_STREAM_BEFORE_START: stream_before_start = v; break;
        case K_RRESP_ERROR_BEAT: rresp_error_beat = v; break;
        case K_RECORD_AR: record_ar = v; break;
        case K_FINAL_READ_BUDGET: final_read_budget = v; break;
        case K_PROGRESS_INTERVAL: progress_interval = v; break;
        case K_WAVE_CYCLES: wave_cycles = v; break;
        default: break;
        }
    }

    // ---- memory
    // Fill one data beat: the bus-aligned BUS_BYTES window holding `addr`
    // (AXI byte lanes: a narrow transfer finds its bytes in the right lanes).
    bool fill_beat(uint64_t addr, uint32_t* w) {
        uint64_t a = addr & ~uint64_t(BUS_BYTES - 1);
        std::memset(w, 0, W_RDATA * 4);
        for (size_t t = 0; t < mem.size(); ++t) {
            size_t i = (last_region + t) % mem.size();
            const Region& reg = mem[i];
            if (a >= reg.base && a + BUS_BYTES <= reg.base + reg.data.size()) {
                std::memcpy(w, &reg.data[a - reg.base], BUS_BYTES);
                last_region = i;
                return true;
            }
        }
        return false;
    }
    static uint64_t beat_addr(const Burst& bu) {
        uint64_t bytes = 1ULL << bu.size;
        uint64_t aligned = bu.addr & ~(bytes - 1);
        if (bu.burst == 0) return bu.addr;                                     // FIXED
        if (bu.burst == 2) {                                                   // WRAP
            uint64_t span = bytes * (bu.len + 1);
            uint64_t lo = bu.addr & ~(span - 1);
            return lo + ((bu.addr - lo + bu.beat * bytes) % span);
        }
        return bu.beat == 0 ? bu.addr : aligned + bu.beat * bytes;             // INCR
    }

    // ---- one clock cycle
    void drive_r() {
        const Burst& bu = bursts.front();
        uint32_t w[W_RDATA];
        bool ok = fill_beat(beat_addr(bu), w);
        uint32_t resp = 0;
        if (!ok) { resp = 2; if (!bad_reads++) message("read outside memory at 0x" + hex(beat_addr(bu))); }
        if (rresp_error_beat && r_beats + 1 == rresp_error_beat) resp = 2;   // injected SLVERR
        put(top->m_axi_rdata, w, W_M_AXI_RDATA);
        top->m_axi_rresp = resp;
        top->m_axi_rlast = bu.beat == bu.len;
#if HAS_M_AXI_RID
        top->m_axi_rid = bu.id;
#endif
        top->m_axi_rvalid = 1;
    }

    static std::string hex(uint64_t v) { char s[32]; std::snprintf(s, sizeof s, "%llx", (unsigned long long)v); return s; }

    void tick() {
        if (cycle >= limit) throw TimeoutError("cycle limit reached");
#if HARNESS_INPUT_LATCH
        // The top is the input-latch wrapper: the rising edge that ends the
        // previous cycle is evaluated now, after the inputs for this cycle
        // were set (by the previous tick and by the AXI-Lite helpers after
        // it).  It clocks the design with the previous cycle's inputs (still
        // in the wrapper's registers), loads this cycle's and settles on them.
        // The clk=0 eval() has no work (no input-fed logic, no falling-edge
        // logic): it only lets Verilator see the next rising edge.  The first
        // tick has no edge before it: the first eval() in run() settled the
        // model on the initial inputs.
        if (cycle) {
            top->clk = 0;
            top->eval();
            top->clk = 1;
            top->eval();
        }
#else
        top->clk = 0;
        top->eval();
#if HARNESS_TRACE
        // A long run's waveform is capped at wave_cycles (0: no cap).
        if (tfp && (!wave_cycles || cycle < wave_cycles)) tfp->dump(cycle * 10);
#endif
#endif
        // ---- sample handshakes with settled combinational values
        const bool roi_fire = top->s_axis_roi_tvalid && top->s_axis_roi_tready;
        const bool out_valid = top->m_axis_out_tvalid;
        const bool out_fire = out_valid && top->m_axis_out_tready;
        const bool ar_valid = top->m_axi_arvalid;
        const bool ar_fire = ar_valid && top->m_axi_arready;
        const bool r_fire = top->m_axi_rvalid && top->m_axi_rready;
        aw_fire = top->s_axil_awvalid && top->s_axil_awready;
        w_fire = top->s_axil_wvalid && top->s_axil_wready;
        b_fire = top->s_axil_bvalid && top->s_axil_bready;
        lar_fire = top->s_axil_arvalid && top->s_axil_arready;
        lr_fire = top->s_axil_rvalid && top->s_axil_rready;
        if (lr_fire) { lr_data = top->s_axil_rdata; lr_resp = top->s_axil_rresp; }
        if (b_fire) b_resp = top->s_axil_bresp;

        // AXI-Stream rule on the DUT's output: once valid, hold valid and data until ready.
        if (prev_out_stall) {
            uint32_t now[W_OUT];
            get(top->m_axis_out_tdata, now);
            if (!out_valid) protocol("m_axis_out_tvalid dropped before tready");
            else if (std::memcmp(now, prev_out, sizeof now) || prev_out_last != out_last(top))
                protocol("m_axis_out_tdata/tlast changed while stalled");
        }
        if (out_valid && !out_fire) {
            get(top->m_axis_out_tdata, prev_out);
            prev_out_last = out_last(top);
        }
        prev_out_stall = out_valid && !out_fire;
        if (prev_ar_stall && (!ar_valid || top->m_axi_araddr != prev_araddr || top->m_axi_arlen != prev_arlen))
            protocol("m_axi_arvalid/araddr/arlen changed before arready");
        prev_ar_stall = ar_valid && !ar_fire;
        prev_araddr = top->m_axi_araddr; prev_arlen = top->m_axi_arlen;

        Burst nb{};
        if (ar_fire) {
            nb.addr = top->m_axi_araddr; nb.len = top->m_axi_arlen; nb.beat = 0;
            nb.size = top->m_axi_arsize; nb.burst = top->m_axi_arburst;
#if HAS_M_AXI_ARID
            nb.id = top->m_axi_arid;
#endif
        }
        if (out_fire) {
            size_t p = beats.size();
            beats.resize(p + W_OUT);
            get(top->m_axis_out_tdata, &beats[p]);
            beat_last.push_back(out_last(top));
            if (beat_last.back()) frame_ends.push_back(cycle);
            last_out_cycle = cycle;
        }

#if !HARNESS_INPUT_LATCH
        // ---- rising edge
        top->clk = 1;
        top->eval();
#if HARNESS_TRACE
        if (tfp && (!wave_cycles || cycle < wave_cycles)) tfp->dump(cycle * 10 + 5);
#endif
#endif

        // ---- advance the models, drive next cycle's inputs
        // descriptor source
        if (roi_fire) {
            if (first_desc_cycle == UINT64_MAX) first_desc_cycle = cycle;
            ++desc_idx;
            top->s_axis_roi_tvalid = 0;
        }
        if (src_enabled && !top->s_axis_roi_tvalid && desc_idx < desc_last.size() && rng_roi.chance(p_roi_valid)) {
            put(top->s_axis_roi_tdata, &desc_words[desc_idx * W_ROI], W_S_AXIS_ROI_TDATA);
#if HAS_S_AXIS_ROI_TLAST
            top->s_axis_roi_tlast = desc_last[desc_idx];
#endif
            top->s_axis_roi_tvalid = 1;
        }
        // result sink
        top->m_axis_out_tready = rng_out.chance(p_out_ready);

        // memory: address channel
        if (ar_fire) {
            ++ar_count;
            if (nb.burst == 3) protocol("reserved arburst 3");
            if ((1u << nb.size) > uint32_t(BUS_BYTES)) protocol("arsize wider than the data bus");
            uint64_t bytes = uint64_t(nb.len + 1) << nb.size;
            if (nb.burst == 1 && ((nb.addr & 0xFFF) + bytes - (nb.addr & ((1u << nb.size) - 1))) > 0x1000)
                protocol("INCR burst crosses a 4 KiB boundary at 0x" + hex(nb.addr));
            if (nb.burst == 2 && (nb.len + 1) != 2 && (nb.len + 1) != 4 && (nb.len + 1) != 8 && (nb.len + 1) != 16)
                protocol("WRAP burst length not 2/4/8/16");
            nb.ready_at = cycle + rng_lat.range(uint32_t(lat_min), uint32_t(lat_max));
            bursts.push_back(nb);
            if (bursts.size() > max_outst_seen) max_outst_seen = bursts.size();
            if (record_ar) arlog.push_back({cycle, nb.addr, nb.len, nb.size, nb.burst, uint16_t(nb.id)});
        }
        top->m_axi_arready = bursts.size() < max_outstanding && rng_ar.chance(p_arready);

        // memory: read data channel (in order; rvalid held until rready)
        if (r_fire) {
            ++r_beats;
            Burst& bu = bursts.front();
            if (bu.beat++ == bu.len) bursts.pop_front();
            top->m_axi_rvalid = 0;
        }
        if (!top->m_axi_rvalid && !bursts.empty() && cycle + 1 >= bursts.front().ready_at &&
            rng_r.chance(p_rvalid))
            drive_r();
        ++cycle;
    }

    void idle(uint64_t n) { for (uint64_t i = 0; i < n; ++i) tick(); }

    // ---- AXI4-Lite master helpers (AW and W presented together)
    void axil_write(uint32_t addr, uint32_t data) {
        top->s_axil_awaddr = addr;
        top->s_axil_wdata = data;
#if HAS_S_AXIL_WSTRB
        top->s_axil_wstrb = (1u << (W_S_AXIL_WDATA / 8)) - 1;
#endif
        top->s_axil_awvalid = 1; top->s_axil_wvalid = 1; top->s_axil_bready = 0;
        bool aw = false, w = false;
        while (!(aw && w)) {
            tick();
            if (aw_fire) { aw = true; top->s_axil_awvalid = 0; }
            if (w_fire) { w = true; top->s_axil_wvalid = 0; }
        }
        top->s_axil_bready = 1;
        do tick(); while (!b_fire);
        top->s_axil_bready = 0;
        if (b_resp) message("AXI-Lite write to 0x" + hex(addr) + " got bresp " + std::to_string(b_resp));
    }
    uint32_t axil_read(uint32_t addr) {
        top->s_axil_araddr = addr;
        top->s_axil_arvalid = 1; top->s_axil_rready = 0;
        do tick(); while (!lar_fire);
        top->s_axil_arvalid = 0;
        top->s_axil_rready = 1;
        do tick(); while (!lr_fire);
        top->s_axil_rready = 0;
        if (lr_resp) message("AXI-Lite read of 0x" + hex(addr) + " got rresp " + std::to_string(lr_resp));
        return lr_data;
    }

    // ---- the whole run
    uint64_t status = ST_OK, polls = 0, start_cycle = 0, done_cycle = UINT64_MAX;
    std::vector<RegOp> final_values;

    void run(const char* wave) {
        Verilated::traceEverOn(wave != nullptr);
        top = new Vtop{ctx};
#if HARNESS_TRACE
        if (wave) { tfp = new TraceFile; top->trace(tfp, 99); tfp->open(wave); }
#endif
        rng_ar = Lfsr(seed * 8 + 1); rng_r = Lfsr(seed * 8 + 2); rng_out = Lfsr(seed * 8 + 3);
        rng_roi = Lfsr(seed * 8 + 4); rng_lat = Lfsr(seed * 8 + 5);
        limit = max_cycles;
        // Inputs idle, reset asserted.
        top->rst = RST_ACTIVE;
        top->s_axis_roi_tvalid = 0; top->m_axis_out_tready = 0;
        top->m_axi_arready = 0; top->m_axi_rvalid = 0;
        top->s_axil_awvalid = 0; top->s_axil_wvalid = 0; top->s_axil_bready = 0;
        top->s_axil_arvalid = 0; top->s_axil_rready = 0;
#if HARNESS_INPUT_LATCH
        // Initialise the model with these inputs and clk low (the wrapper's
        // initial block copies them into its input registers); no edge fires.
        top->clk = 0;
        top->eval();
#endif
        try {
            idle(reset_cycles);
            top->rst = !RST_ACTIVE;
            idle(2);
            for (auto& op : cfg_writes) axil_write(op.addr, op.data);
            if (stream_before_start) src_enabled = true;
            start_cycle = cycle;
            for (auto& op : start_writes) axil_write(op.addr, op.data);
            src_enabled = true;
            uint64_t next_progress = progress_interval;
            for (;;) {
                uint32_t v = axil_read(uint32_t(done_reg));
                ++polls;
                if (progress_interval && cycle >= next_progress) {
                    // One line per interval on stdout for a progress bar.
                    std::printf("progress %llu %zu\n", (unsigned long long)cycle, beat_last.size());
                    std::fflush(stdout);
                    next_progress = cycle + progress_interval;
                }
                if ((v & done_mask) == done_value && beat_last.size() >= expect_beats) break;
                idle(poll_interval);
            }
            done_cycle = cycle;
            idle(drain_cycles);
        } catch (TimeoutError&) {
            status = ST_TIMEOUT;
            message("timeout after " + std::to_string(cycle) + " cycles");
        }
        // Final reads are done even after a timeout (AXI-Lite usually still answers).
        limit = cycle + final_read_budget;
        try {
            for (uint32_t a : final_reads) final_values.push_back({a, axil_read(a)});
        } catch (TimeoutError&) {
            status = ST_TIMEOUT;
            message("final register reads timed out");
        }
#if HARNESS_TRACE
        if (tfp) { tfp->close(); }
#endif
        top->final();
    }

    std::vector<uint8_t> result(uint64_t wall_ns, uint64_t cpu_ns) {
        Writer o;
        o.wr<uint32_t>(MAGIC_OUT); o.wr<uint32_t>(VERSION);
        auto s = o.begin(O_SUMMARY);
        auto kv = [&](uint64_t k, uint64_t v) { o.wr<uint64_t>(k); o.wr<uint64_t>(v); };
        bool have = first_desc_cycle != UINT64_MAX && last_out_cycle != UINT64_MAX && last_out_cycle >= first_desc_cycle;
        kv(S_STATUS, status); kv(S_CYCLES_TOTAL, cycle);
        kv(S_FIRST_DESC, first_desc_cycle); kv(S_LAST_OUT, last_out_cycle);
        kv(S_CYCLES, have ? last_out_cycle - first_desc_cycle + 1 : 0);
        kv(S_DESC_ACCEPTED, desc_idx); kv(S_BEATS, beat_last.size());
        kv(S_AR_COUNT, ar_count); kv(S_R_BEATS, r_beats); kv(S_MAX_OUTST, max_outst_seen);
        kv(S_PROTOCOL_ERRORS, protocol_errors); kv(S_BAD_READS, bad_reads);
        kv(S_WALL_NS, wall_ns); kv(S_POLLS, polls); kv(S_DONE_CYCLE, done_cycle);
        kv(S_START_CYCLE, start_cycle);
        kv(S_SIM_CYCLES_PER_S, wall_ns ? uint64_t(double(cycle) * 1e9 / double(wall_ns)) : 0);
        kv(S_CPU_NS, cpu_ns);
        o.end(s);
        s = o.begin(O_BEATS);
        o.wr<uint32_t>(W_OUT); o.wr<uint32_t>(0);
        for (size_t i = 0; i < beat_last.size(); ++i) {
            o.bytes(&beats[i * W_OUT], W_OUT * 4);
            o.wr<uint32_t>(beat_last[i]);
        }
        o.end(s);
        s = o.begin(O_REGS);
        for (auto& r : final_values) { o.wr<uint32_t>(r.addr); o.wr<uint32_t>(r.data); }
        o.end(s);
        s = o.begin(O_ARLOG);
        for (auto& a : arlog) {
            o.wr<uint64_t>(a.cycle); o.wr<uint64_t>(a.addr); o.wr<uint32_t>(a.len);
            o.wr<uint8_t>(a.size); o.wr<uint8_t>(a.burst); o.wr<uint16_t>(a.id);
        }
        o.end(s);
        s = o.begin(O_FRAME_ENDS);
        for (uint64_t c : frame_ends) o.wr<uint64_t>(c);
        o.end(s);
        s = o.begin(O_MESSAGES);
        for (auto& m : messages) { o.bytes(m.data(), m.size()); o.wr<uint8_t>('\n'); }
        o.end(s);
        return o.b;
    }
};

std::vector<uint8_t> slurp(const char* path) {
    FILE* f = std::fopen(path, "rb");
    if (!f) throw std::runtime_error(std::string("cannot open ") + path);
    std::vector<uint8_t> b;
    uint8_t buf[1 << 16];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) b.insert(b.end(), buf, buf + n);
    std::fclose(f);
    return b;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s IN.bin OUT.bin [--wave FILE.fst]\n", argv[0]);
        return 2;
    }
    const char* wave = nullptr;
    for (int i = 3; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--wave") && i + 1 < argc) wave = argv[++i];
    }
#if !HARNESS_TRACE
    if (wave) { std::fprintf(stderr, "harness: built without waves (build_harness(waves=True))\n"); return 2; }
#endif
    try {
        Bench bench;
        bench.load(slurp(argv[1]));
        // Wall time and this process's CPU time: on a shared machine the
        // second shows the model's own speed.
        auto t0 = std::chrono::steady_clock::now();
        std::clock_t c0 = std::clock();
        bench.run(wave);
        auto wall = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count();
        double cpu = double(std::clock() - c0) / CLOCKS_PER_SEC;
        auto out = bench.result(uint64_t(wall), uint64_t(cpu * 1e9));
        FILE* f = std::fopen(argv[2], "wb");
        if (!f || std::fwrite(out.data(), 1, out.size(), f) != out.size()) {
            std::fprintf(stderr, "harness: cannot write %s\n", argv[2]);
            return 2;
        }
        std::fclose(f);
        delete bench.top;
        return 0;
    } catch (std::exception& e) {
        std::fprintf(stderr, "harness: %s\n", e.what());
        return 2;
    }
}
