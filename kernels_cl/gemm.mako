## Batched C[b] = A[b] @ B[b], A and B strided (no copies for transposed views), C contiguous.
## Two variants of one loop nest:
##   tiled    (GPUs) a work-group of WG x WG items computes a TILE x TILE block of C, each
##            item a WPT x WPT register block spread WG apart (wpt: 4 or 8); K advances TK at a
##            time through local-memory tiles, padded by a column against bank conflicts, each
##            operand loaded along whichever of its dims is contiguous (coalesced for
##            transposed views too); FMA in the inner loop (its summation order already
##            differs from NumPy's). Split-K: with ct_splits > 1, group g sums the k range
##            of slice g / (batch * tiles), ct_kchunk long, into C[slice] ((splits, batch, m,
##            n)), which the host sums over slices: products too small to fill the device.
##   blocked  (CPU devices) each item computes a BLOCK x BLOCK block of C straight from
##            global memory, no local memory and no barriers: the caches do the tiling and
##            PoCL vectorises across work-items (8 x 8 measured fastest on PoCL 3).
##   pack     (CPU devices, before `packed`) copies `panel` rows of a strided matrix at a time
##            into a panel, k-major: Xp[b][p][kk][r] = X[b, p * panel + r, kk], in the compute
##            type, zeros past the last row (B is packed as B^T's rows)
##   packed   (CPU devices, float) each item computes an MR x NR block of C (MR = `mr`, tuned;
##            NR = 2 vectors of `width`) from one panel of A and one of B: per k, two aligned vector loads of B,
##            MR scalars of A broadcast, 2 MR multiply-adds in registers (a BLIS micro-kernel:
##            12 + 3 AVX registers of 16). Both panels are read in order, so the k loop walks
##            memory contiguously whatever the operands' strides: on PoCL 3 (one thread) 83
##            GF/s at 1024^3 and 61 at 2048^3, against 23 and 8 for `blocked`.
##   src_a, src_b, out: dtypes;  compute: accumulator dtype;  index: C index type
##   windows  (tiled only) B is read from the windows of an image batch (N, C, H, W), batch bi
##            being image bi: an implicit-GEMM convolution, no column matrix. "positions":
##            B[tap, position] (the forward: C = weight @ windows); "taps": B[position, tap]
##            (the weight gradient, per image: C = g @ windows^T). A table gives each tap's
##            (offset of its channel and kernel element, its row and column shift), so that
##            a load divides only by the output width. "gradient": B[tap, input position]
##            read from the output gradient (N, O, OH, OW) (the input gradient: C = W^T @ B,
##            the transposed convolution); the table's offset is the channel's only, and a
##            tap reaches the output position (y + pad - shift) / stride where that divides.
##            ct_ih, ct_iw bound the image read; ct_ow is the width of B's positions' grid.
<%namespace file="_prelude.mako" import="prelude, load, store, contract"/>
<%
    T = dialect.ctype(compute)
    idx = index
    WG = 16
    WPT = wpt
    TK = 16 if WPT == 4 else 8
    TILE = WG * WPT
    PAD = 1
    BLOCK = 8
    MR, W = mr, width
    NR = 2 * W
    V = T if W == 1 else "%s%d" % (T, W)
    fp64 = "float64" in (compute.name, out.name, src_a.name, src_b.name)
%>
${prelude(fp64)}
% if variant == "pack":
${pack_kernel()}
% elif variant == "packed":
${packed_kernel()}
% else:

KERNEL void ${name}(GLOBAL ${dialect.ctype(out)}* ct_c,
    GLOBAL const ${dialect.ctype(src_a)}* ct_a, const ${idx} ct_a_off, const ${idx} ct_a_sb,
    const ${idx} ct_a_sm, const ${idx} ct_a_sk,
    GLOBAL const ${dialect.ctype(src_b)}* ct_b, const ${idx} ct_b_off, const ${idx} ct_b_sb,
    const ${idx} ct_b_sk, const ${idx} ct_b_sn,
    const ${idx} ct_batch, const ${idx} ct_m, const ${idx} ct_n, const ${idx} ct_k,
    const ${idx} ct_tiles_m, const ${idx} ct_tiles_n, const ${idx} ct_splits, const ${idx} ct_kchunk
% if windows:
    , GLOBAL const ${idx}* ct_taps, const ${idx} ct_x_sh, const ${idx} ct_x_sw,
    const ${idx} ct_ih, const ${idx} ct_iw, const ${idx} ct_sy, const ${idx} ct_sx,
    const ${idx} ct_py, const ${idx} ct_px, const ${idx} ct_ow
% endif
    )
{
% if variant == "blocked":
    const ${idx} ct_bm = (ct_m + ${BLOCK - 1}) / ${BLOCK}, ct_bn = (ct_n + ${BLOCK - 1}) / ${BLOCK};
    for (${idx} ct_g = (${idx})GID(0); ct_g < ct_batch * ct_bm * ct_bn; ct_g += (${idx})GLOBAL_SIZE(0)) {
        const ${idx} ct_bi = ct_g / (ct_bm * ct_bn);
        const ${idx} ct_row0 = ((ct_g / ct_bn) % ct_bm) * ${BLOCK};
        const ${idx} ct_col0 = (ct_g % ct_bn) * ${BLOCK};
        ## past the edge, repeat the last row/column (a valid address) and drop the result
% for i in range(BLOCK):
        const ${idx} ct_ra${i} = ct_a_off + ct_bi * ct_a_sb +
            (ct_row0 + ${i} < ct_m ? ct_row0 + ${i} : ct_m - 1) * ct_a_sm;
        const ${idx} ct_cb${i} = ct_b_off + ct_bi * ct_b_sb +
            (ct_col0 + ${i} < ct_n ? ct_col0 + ${i} : ct_n - 1) * ct_b_sn;
% endfor
% for i in range(BLOCK):
% for j in range(BLOCK):
        ${T} ct_acc${i}_${j} = 0;
% endfor
% endfor
        for (${idx} ct_kk = 0; ct_kk < ct_k; ++ct_kk) {
% for i in range(BLOCK):
            const ${T} ct_av${i} = ${load(src_a, "ct_a", "ct_ra%d + ct_kk * ct_a_sk" % i, T)};
% endfor
% for j in range(BLOCK):
            const ${T} ct_bv${j} = ${load(src_b, "ct_b", "ct_cb%d + ct_kk * ct_b_sk" % j, T)};
% endfor
% for i in range(BLOCK):
% for j in range(BLOCK):
            ct_acc${i}_${j} += ct_av${i} * ct_bv${j};
% endfor
% endfor
        }
        ## one test for a whole block inside C: 64 store guards would stop PoCL vectorising
        if (ct_row0 + ${BLOCK} <= ct_m && ct_col0 + ${BLOCK} <= ct_n) {
% for i in range(BLOCK):
% for j in range(BLOCK):
            ${store(out, "ct_c", "(ct_bi * ct_m + ct_row0 + %d) * ct_n + ct_col0 + %d" % (i, j), "ct_acc%d_%d" % (i, j))};
% endfor
% endfor
        } else {
% for i in range(BLOCK):
% for j in range(BLOCK):
            if (ct_row0 + ${i} < ct_m && ct_col0 + ${j} < ct_n)
                ${store(out, "ct_c", "(ct_bi * ct_m + ct_row0 + %d) * ct_n + ct_col0 + %d" % (i, j), "ct_acc%d_%d" % (i, j))};
% endfor
% endfor
        }
    }
% else:
    LOCAL ${T} ct_as[${TK}][${TILE + PAD}];
    LOCAL ${T} ct_bs[${TK}][${TILE + PAD}];
    const int ct_tid = (int)LID(0);
    const int ct_tx = ct_tid % ${WG};
    const int ct_ty = ct_tid / ${WG};
    const ${idx} ct_tiles = ct_tiles_m * ct_tiles_n;
    ## the loads walk along A's rows where those are contiguous, else along k (likewise B)
    const int ct_a_rows = ct_a_sm == 1, ct_b_cols = ct_b_sn == 1;
    for (${idx} ct_g = (${idx})GROUP_ID(0); ct_g < ct_splits * ct_batch * ct_tiles; ct_g += (${idx})NUM_GROUPS(0)) {
        ## split-K: the group sums k in [kbegin, kend) into C's slice `split`
        const ${idx} ct_split = ct_g / (ct_batch * ct_tiles), ct_gt = ct_g % (ct_batch * ct_tiles);
        const ${idx} ct_kbegin = ct_split * ct_kchunk;
        const ${idx} ct_kend = ct_kbegin + ct_kchunk < ct_k ? ct_kbegin + ct_kchunk : ct_k;
        const ${idx} ct_bi = ct_gt / ct_tiles;
        const ${idx} ct_row0 = ((ct_gt % ct_tiles) / ct_tiles_n) * ${TILE};
        const ${idx} ct_col0 = ((ct_gt % ct_tiles) % ct_tiles_n) * ${TILE};
        const ${idx} ct_abase = ct_a_off + ct_bi * ct_a_sb;
        const ${idx} ct_bbase = ct_b_off + ct_bi * ct_b_sb;
% for i in range(WPT):
% for j in range(WPT):
        ${T} ct_acc${i}_${j} = 0;
% endfor
% endfor
        for (${idx} ct_k0 = ct_kbegin; ct_k0 < ct_kend; ct_k0 += ${TK}) {
            for (int ct_l = ct_tid; ct_l < ${TILE * TK}; ct_l += ${WG * WG}) {
                const int ct_i = ct_a_rows ? ct_l % ${TILE} : ct_l / ${TK};
                const int ct_kk = ct_a_rows ? ct_l / ${TILE} : ct_l % ${TK};
                const ${idx} ct_r = ct_row0 + ct_i;
                const ${idx} ct_kx = ct_k0 + ct_kk;
                ct_as[ct_kk][ct_i] = (ct_r < ct_m && ct_kx < ct_kend) ?
                    ${load(src_a, "ct_a", "ct_abase + ct_r * ct_a_sm + ct_kx * ct_a_sk", T)} : (${T})0;
            }
            for (int ct_l = ct_tid; ct_l < ${TILE * TK}; ct_l += ${WG * WG}) {
                const int ct_j = ct_b_cols ? ct_l % ${TILE} : ct_l / ${TK};
                const int ct_kk = ct_b_cols ? ct_l / ${TILE} : ct_l % ${TK};
                const ${idx} ct_c0 = ct_col0 + ct_j;
                const ${idx} ct_kx = ct_k0 + ct_kk;
% if windows:
${window_load()}
% else:
                ct_bs[ct_kk][ct_j] = (ct_c0 < ct_n && ct_kx < ct_kend) ?
                    ${load(src_b, "ct_b", "ct_bbase + ct_kx * ct_b_sk + ct_c0 * ct_b_sn", T)} : (${T})0;
% endif
            }
            BARRIER;
% for kk in range(TK):
            {
% for i in range(WPT):
                const ${T} ct_av${i} = ct_as[${kk}][ct_ty + ${WG * i}];
% endfor
% for j in range(WPT):
                const ${T} ct_bv${j} = ct_bs[${kk}][ct_tx + ${WG * j}];
% endfor
% for i in range(WPT):
% for j in range(WPT):
% if compute.is_floating_point:
                ct_acc${i}_${j} = FMA(ct_av${i}, ct_bv${j}, ct_acc${i}_${j});
% else:
                ct_acc${i}_${j} += ct_av${i} * ct_bv${j};
% endif
% endfor
% endfor
            }
% endfor
            BARRIER;
        }
% for i in range(WPT):
% for j in range(WPT):
        {
            const ${idx} ct_r = ct_row0 + ct_ty + ${WG * i};
            const ${idx} ct_c0 = ct_col0 + ct_tx + ${WG * j};
            if (ct_r < ct_m && ct_c0 < ct_n) {
                ${store(out, "ct_c", "((ct_split * ct_batch + ct_bi) * ct_m + ct_r) * ct_n + ct_c0", "ct_acc%d_%d" % (i, j))};
            }
        }
% endfor
% endfor
    }
% endif
}
% endif

## B[ct_kx, ct_c0] of an implicit convolution: the tap's table entry, the output position's
## window corner; zero outside the image (padding) and past B's edges.
<%def name="window_load()">
                {
                    const ${idx} ct_tap = ${"ct_c0" if windows == "taps" else "ct_kx"};
                    const ${idx} ct_pos = ${"ct_kx" if windows == "taps" else "ct_c0"};
                    ${T} ct_v = 0;
                    if (ct_c0 < ct_n && ct_kx < ct_kend) {
% if windows == "gradient":
                        const ${idx} ct_y = ct_pos / ct_ow;
                        const ${idx} ct_yy = ct_y + ct_py - ct_taps[3 * ct_tap + 1];
                        const ${idx} ct_xx = ct_pos - ct_y * ct_ow + ct_px - ct_taps[3 * ct_tap + 2];
                        if (ct_yy >= 0 && ct_xx >= 0 && ct_yy % ct_sy == 0 && ct_xx % ct_sx == 0 &&
                                ct_yy / ct_sy < ct_ih && ct_xx / ct_sx < ct_iw)
                            ct_v = ${load(src_b, "ct_b", "ct_bbase + ct_taps[3 * ct_tap] + ct_yy / ct_sy * ct_x_sh + ct_xx / ct_sx * ct_x_sw", T)};
% else:
                        const ${idx} ct_oy = ct_pos / ct_ow;
                        const ${idx} ct_y0 = ct_oy * ct_sy - ct_py, ct_x0 = (ct_pos - ct_oy * ct_ow) * ct_sx - ct_px;
                        const ${idx} ct_y = ct_y0 + ct_taps[3 * ct_tap + 1], ct_x = ct_x0 + ct_taps[3 * ct_tap + 2];
                        if (ct_y >= 0 && ct_y < ct_ih && ct_x >= 0 && ct_x < ct_iw)
                            ct_v = ${load(src_b, "ct_b", "ct_bbase + ct_taps[3 * ct_tap] + ct_y0 * ct_x_sh + ct_x0 * ct_x_sw", T)};
% endif
                    }
                    ct_bs[ct_kk][ct_j] = ct_v;
                }
</%def>

<%def name="pack_kernel()">
## k may span two dims: kk = ko * kin + ki at ko * sko + ki * sk (a batch folded into k)
KERNEL void ${name}(GLOBAL ${T}* ct_xp, GLOBAL const ${dialect.ctype(src_a)}* ct_x,
    const ${idx} ct_x_off, const ${idx} ct_x_sb, const ${idx} ct_x_sr, const ${idx} ct_x_sk,
    const ${idx} ct_x_kin, const ${idx} ct_x_sko,
    const ${idx} ct_batch, const ${idx} ct_rows, const ${idx} ct_k)
{
    const ${idx} ct_panels = (ct_rows + ${panel - 1}) / ${panel};
    for (${idx} ct_g = (${idx})GID(0); ct_g < ct_batch * ct_panels * ct_k; ct_g += (${idx})GLOBAL_SIZE(0)) {
        const ${idx} ct_row0 = ct_g / ct_k % ct_panels * ${panel}, ct_kk = ct_g % ct_k;
        const ${idx} ct_at = ct_x_off + ct_g / (ct_panels * ct_k) * ct_x_sb +
            ct_kk / ct_x_kin * ct_x_sko + ct_kk % ct_x_kin * ct_x_sk;
% for r in range(panel):
        ct_xp[ct_g * ${panel} + ${r}] = ct_row0 + ${r} < ct_rows ? ${load(src_a, "ct_x", "ct_at + (ct_row0 + %d) * ct_x_sr" % r, T)} : (${T})0;
% endfor
    }
}
</%def>

<%def name="packed_kernel()">
KERNEL void ${name}(GLOBAL ${dialect.ctype(out)}* ct_c,
    GLOBAL const ${T}* ct_ap, const ${idx} ct_ap_sb, GLOBAL const ${T}* ct_bp, const ${idx} ct_bp_sb,
    const ${idx} ct_batch, const ${idx} ct_m, const ${idx} ct_n, const ${idx} ct_k)
{
${contract()}
    const ${idx} ct_mp = (ct_m + ${MR - 1}) / ${MR}, ct_np = (ct_n + ${NR - 1}) / ${NR};
    ## consecutive items share B's panel (it stays in cache) and take A's panels in turn
    for (${idx} ct_g = (${idx})GID(0); ct_g < ct_batch * ct_mp * ct_np; ct_g += (${idx})GLOBAL_SIZE(0)) {
        const ${idx} ct_bi = ct_g / (ct_mp * ct_np);
        const ${idx} ct_pi = ct_g % ct_mp, ct_pj = ct_g / ct_mp % ct_np;
        ## a panel set's batch stride is 0 where its operand is broadcast (packed once)
        GLOBAL const ${T}* ct_a = ct_ap + ct_bi * ct_ap_sb + ct_pi * ct_k * ${MR};
        ## panels start at multiples of NR elements: aligned vectors (PoCL calls vloadn out of line)
        GLOBAL const ${V}* ct_b = (GLOBAL const ${V}*)(ct_bp + ct_bi * ct_bp_sb + ct_pj * ct_k * ${NR});
% for i in range(MR):
        ${V} ct_c${i}_0 = (${V})0, ct_c${i}_1 = (${V})0;
% endfor
        for (${idx} ct_kk = 0; ct_kk < ct_k; ct_kk++) {
            const ${V} ct_b0 = ct_b[2 * ct_kk], ct_b1 = ct_b[2 * ct_kk + 1];
% for i in range(MR):
            { const ${V} ct_av = (${V})(ct_a[ct_kk * ${MR} + ${i}]); ct_c${i}_0 += ct_av * ct_b0; ct_c${i}_1 += ct_av * ct_b1; }
% endfor
        }
        const ${idx} ct_row0 = ct_pi * ${MR}, ct_col0 = ct_pj * ${NR};
% for i in range(MR):
        if (ct_row0 + ${i} < ct_m) {
            const ${idx} ct_at = (ct_bi * ct_m + ct_row0 + ${i}) * ct_n + ct_col0;
% for h in range(2):
% for j in range(W):
            if (ct_col0 + ${h * W + j} < ct_n) ${store(out, "ct_c", "ct_at + %d" % (h * W + j), "ct_c%d_%d%s" % (i, h, ".s%x" % j if W > 1 else ""))};
% endfor
% endfor
        }
% endfor
    }
}
</%def>
