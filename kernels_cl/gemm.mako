## Batched C[b] = A[b] @ B[b], A and B strided (no copies for transposed views), C contiguous.
## Two variants of one loop nest:
##   tiled    (GPUs) CLBlast's xgemm parameters, `tile` (ops/gemm.Tile): a work-group of
##            MDIMC x NDIMC items computes an MWG x NWG block of C (MWG = MDIMC * MWI, NWG =
##            NDIMC * NWI), each item an MWI x NWI register block, spread MDIMC (NDIMC) apart
##            and read from local memory as scalars (VW 1), or adjacent and read in vectors of
##            VW (2 or 4, float only). K advances KWG at a time through local-memory tiles
##            whose rows are padded (against bank conflicts when a load walks k); DB: two sets
##            of tiles, the next step's loaded while this one's are multiplied (one barrier a
##            step). Each operand is loaded along whichever of its dims is contiguous
##            (coalesced for transposed views too); FMA in the inner loop (its summation order
##            already differs from NumPy's). Split-K: with ct_splits > 1, group g sums the k range
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
##   epilogue (blocked, tiled without split-K, packed) None, or an ops/fused.Epilogue: the
##            pointwise chain that alone reads C (a bias, an activation, a residual add)
##            runs on each element where it is computed, its source ("acc", 0) reading the
##            element (C's dtype is the compute type), and stores the chain's output instead
##            (cltorch.compile's fusion: C never makes a trip through memory); the blocked
##            variant stores its block of C, then runs the chain over it
<%namespace file="_prelude.mako" import="prelude, load, store, contract"/>
<%namespace file="_math.mako" import="helpers"/>
<%namespace file="_epilogue.mako" import="params, element"/>
<%
    T = dialect.ctype(compute)
    idx = index
    MD, ND, MWI, NWI, KWG, VW, DB = tile
    ## vector reads for float only (CUDA has no vectors of long long, and double4 is deprecated)
    VW = VW if T == "float" else 1
    MWG, NWG, GROUP = MD * MWI, ND * NWI, MD * ND
    BUFS = 2 if DB else 1
    ## a tile row's padding (against bank conflicts when a load walks k), a vector's worth
    ## where the rows are read in vectors (aligned rows)
    AS, BS = MWG + VW, NWG + VW
    BLOCK = 8
    MR, W = mr, width
    NR = 2 * W
    V = T if W == 1 else "%s%d" % (T, W)
    fp64 = "float64" in (compute.name, out.name, src_a.name, src_b.name) or bool(epilogue) and \
        "float64" in [epilogue.out.name] + [dt.name for _, dt in epilogue.inputs]
%>
${prelude(fp64)}
% if epilogue:
${helpers(T, compute.is_floating_point)}
% endif
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
${epilogue_params()}
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
% if epilogue:
        ## the epilogue reads the block back (its own stores: cached), one element a turn of a
        ## loop: 64 epilogues inline stop PoCL vectorising the products (6x slower, measured)
        for (int ct_e = 0; ct_e < ${BLOCK * BLOCK}; ct_e++) {
            const ${idx} ct_er = ct_row0 + ct_e / ${BLOCK}, ct_ec = ct_col0 + ct_e % ${BLOCK};
            if (ct_er < ct_m && ct_ec < ct_n) {
                const ${idx} ct_at = (ct_bi * ct_m + ct_er) * ct_n + ct_ec;
${element(epilogue, idx, "ct_at", "ct_c[ct_at]", ("ct_bi", "ct_er", "ct_ec"))}
            }
        }
% endif
    }
% else:
% if VW == 1:
    LOCAL ${T} ct_as[${BUFS * KWG * AS}];
    LOCAL ${T} ct_bs[${BUFS * KWG * BS}];
% else:
    ## declared in vectors, so that the compute loop's vector reads are aligned; filled through
    ## scalar views
    LOCAL ${T}${VW} ct_as_v[${BUFS * KWG * AS // VW}];
    LOCAL ${T}${VW} ct_bs_v[${BUFS * KWG * BS // VW}];
    LOCAL_PTR ${T}* const ct_as = (LOCAL_PTR ${T}*)ct_as_v;
    LOCAL_PTR ${T}* const ct_bs = (LOCAL_PTR ${T}*)ct_bs_v;
% endif
    const int ct_tid = (int)LID(0);
    const int ct_tx = ct_tid % ${ND};
    const int ct_ty = ct_tid / ${ND};
    const ${idx} ct_tiles = ct_tiles_m * ct_tiles_n;
    ## the loads walk along A's rows where those are contiguous, else along k (likewise B)
    const int ct_a_rows = ct_a_sm == 1, ct_b_cols = ct_b_sn == 1;
    for (${idx} ct_g = (${idx})GROUP_ID(0); ct_g < ct_splits * ct_batch * ct_tiles; ct_g += (${idx})NUM_GROUPS(0)) {
        ## split-K: the group sums k in [kbegin, kend) into C's slice `split`
        const ${idx} ct_split = ct_g / (ct_batch * ct_tiles), ct_gt = ct_g % (ct_batch * ct_tiles);
        const ${idx} ct_kbegin = ct_split * ct_kchunk;
        const ${idx} ct_kend = ct_kbegin + ct_kchunk < ct_k ? ct_kbegin + ct_kchunk : ct_k;
        const ${idx} ct_bi = ct_gt / ct_tiles;
        const ${idx} ct_row0 = ((ct_gt % ct_tiles) / ct_tiles_n) * ${MWG};
        const ${idx} ct_col0 = ((ct_gt % ct_tiles) % ct_tiles_n) * ${NWG};
        const ${idx} ct_abase = ct_a_off + ct_bi * ct_a_sb;
        const ${idx} ct_bbase = ct_b_off + ct_bi * ct_b_sb;
% for i in range(MWI):
% for j in range(NWI):
        ${T} ct_acc${i}_${j} = 0;
% endfor
% endfor
% if DB:
        ## double buffering: step t computes from rows (t % 2) * KWG of the tiles while it loads
        ## step t + 1's into the other half; one barrier a step
${tile_loads("ct_kbegin", "0")}
        BARRIER;
% endif
        for (${idx} ct_k0 = ct_kbegin; ct_k0 < ct_kend; ct_k0 += ${KWG}) {
% if DB:
            const int ct_buf = (int)((ct_k0 - ct_kbegin) / ${KWG} % 2) * ${KWG};
            if (ct_k0 + ${KWG} < ct_kend) {
${tile_loads("ct_k0 + %d" % KWG, "%d - ct_buf" % KWG)}
            }
% else:
            const int ct_buf = 0;
${tile_loads("ct_k0", "0")}
            BARRIER;
% endif
${tile_products()}
            BARRIER;
        }
% for i in range(MWI):
% for j in range(NWI):
        {
            const ${idx} ct_r = ct_row0 + ${row(i)};
            const ${idx} ct_c0 = ct_col0 + ${col(j)};
            if (ct_r < ct_m && ct_c0 < ct_n) {
                ${c_store("((ct_split * ct_batch + ct_bi) * ct_m + ct_r) * ct_n + ct_c0", "ct_acc%d_%d" % (i, j), ("ct_bi", "ct_r", "ct_c0"))}
            }
        }
% endfor
% endfor
    }
% endif
}
% endif

## C[at] = value, or the epilogue's chain on it
<%def name="c_store(at, value, coords)">\
% if epilogue:
${element(epilogue, idx, at, value, coords)}
% else:
${store(out, "ct_c", at, value)};
% endif
</%def>
<%def name="epilogue_params()">\
% if epilogue:
${params(epilogue, idx)}
% endif
</%def>

## An item's row (column) of C for its register block's row i (column j): spread MDIMC
## (NDIMC) apart with scalar reads, adjacent with vector reads (VW > 1)
<%def name="row(i)">${"ct_ty + %d" % (MD * i) if VW == 1 else "ct_ty * %d + %d" % (MWI, i)}</%def>
<%def name="col(j)">${"ct_tx + %d" % (ND * j) if VW == 1 else "ct_tx * %d + %d" % (NWI, j)}</%def>

## Step k0's tiles into rows `rowoff` of the local tiles: A[row0.., k0..] and B[k0.., col0..],
## zeros past the edges and past kend
<%def name="tile_loads(k0, rowoff)">
            for (int ct_l = ct_tid; ct_l < ${MWG * KWG}; ct_l += ${GROUP}) {
                const int ct_i = ct_a_rows ? ct_l % ${MWG} : ct_l / ${KWG};
                const int ct_kk = ct_a_rows ? ct_l / ${MWG} : ct_l % ${KWG};
                const ${idx} ct_r = ct_row0 + ct_i;
                const ${idx} ct_kx = ${k0} + ct_kk;
                ct_as[(${rowoff} + ct_kk) * ${AS} + ct_i] = (ct_r < ct_m && ct_kx < ct_kend) ?
                    ${load(src_a, "ct_a", "ct_abase + ct_r * ct_a_sm + ct_kx * ct_a_sk", T)} : (${T})0;
            }
            for (int ct_l = ct_tid; ct_l < ${NWG * KWG}; ct_l += ${GROUP}) {
                const int ct_j = ct_b_cols ? ct_l % ${NWG} : ct_l / ${KWG};
                const int ct_kk = ct_b_cols ? ct_l / ${NWG} : ct_l % ${KWG};
                const ${idx} ct_c0 = ct_col0 + ct_j;
                const ${idx} ct_kx = ${k0} + ct_kk;
% if windows:
${window_load("ct_bs[(%s + ct_kk) * %d + ct_j]" % (rowoff, BS))}
% else:
                ct_bs[(${rowoff} + ct_kk) * ${BS} + ct_j] = (ct_c0 < ct_n && ct_kx < ct_kend) ?
                    ${load(src_b, "ct_b", "ct_bbase + ct_kx * ct_b_sk + ct_c0 * ct_b_sn", T)} : (${T})0;
% endif
            }
</%def>

## The register block's products over the KWG k of rows ct_buf.. of the tiles: MWI + NWI
## local reads (scalars, or vectors of VW) for MWI x NWI fused multiply-adds a k
<%def name="tile_products()">
#pragma unroll
            for (int ct_kk = 0; ct_kk < ${KWG}; ++ct_kk) {
                const int ct_ra = (ct_buf + ct_kk) * ${AS}, ct_rb = (ct_buf + ct_kk) * ${BS};
% if VW == 1:
% for i in range(MWI):
                const ${T} ct_av${i} = ct_as[ct_ra + ${row(i)}];
% endfor
% for j in range(NWI):
                const ${T} ct_bv${j} = ct_bs[ct_rb + ${col(j)}];
% endfor
% else:
% for v in range(MWI // VW):
                const ${T}${VW} ct_avv${v} = ct_as_v[ct_ra / ${VW} + ct_ty * ${MWI // VW} + ${v}];
% endfor
% for v in range(NWI // VW):
                const ${T}${VW} ct_bvv${v} = ct_bs_v[ct_rb / ${VW} + ct_tx * ${NWI // VW} + ${v}];
% endfor
% for i in range(MWI):
                const ${T} ct_av${i} = ct_avv${i // VW}.${"xyzw"[i % VW]};
% endfor
% for j in range(NWI):
                const ${T} ct_bv${j} = ct_bvv${j // VW}.${"xyzw"[j % VW]};
% endfor
% endif
% for i in range(MWI):
% for j in range(NWI):
% if compute.is_floating_point:
                ct_acc${i}_${j} = FMA(ct_av${i}, ct_bv${j}, ct_acc${i}_${j});
% else:
                ct_acc${i}_${j} += ct_av${i} * ct_bv${j};
% endif
% endfor
% endfor
            }
</%def>

## B[ct_kx, ct_c0] of an implicit convolution: the tap's table entry, the output position's
## window corner; zero outside the image (padding) and past B's edges.
<%def name="window_load(dest)">
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
                    ${dest} = ct_v;
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
    const ${idx} ct_batch, const ${idx} ct_m, const ${idx} ct_n, const ${idx} ct_k
${epilogue_params()}
    )
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
            if (ct_col0 + ${h * W + j} < ct_n) ${c_store("ct_at + %d" % (h * W + j), "ct_c%d_%d%s" % (i, h, ".s%x" % j if W > 1 else ""), ("ct_bi", "ct_row0 + %d" % i, "ct_col0 + %d" % (h * W + j)))}
% endfor
% endfor
        }
% endfor
    }
}
</%def>
