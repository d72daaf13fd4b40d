## Batched C[b] = A[b] @ B[b], A and B strided (no copies for transposed views), C contiguous.
## Two variants of one loop nest:
##   tiled    (GPUs) a work-group of WG x WG items computes a TILE x TILE block of C, each
##            item a WPT x WPT register block spread WG apart (wpt: 4 or 8); K advances TK at a
##            time through local-memory tiles, padded by a column against bank conflicts, each
##            operand loaded along whichever of its dims is contiguous (coalesced for
##            transposed views too); FMA in the inner loop (its summation order already
##            differs from NumPy's).
##   blocked  (CPU devices) each item computes a BLOCK x BLOCK block of C straight from
##            global memory, no local memory and no barriers: the caches do the tiling and
##            PoCL vectorises across work-items (8 x 8 measured fastest on PoCL 3).
##   src_a, src_b, out: dtypes;  compute: accumulator dtype;  index: C index type
<%namespace file="_prelude.mako" import="prelude, load, store"/>
<%
    T = dialect.ctype(compute)
    idx = index
    WG = 16
    WPT = wpt
    TK = 16 if WPT == 4 else 8
    TILE = WG * WPT
    PAD = 1
    BLOCK = 8
    fp64 = "float64" in (compute.name, out.name, src_a.name, src_b.name)
%>
${prelude(fp64)}

KERNEL void ${name}(GLOBAL ${dialect.ctype(out)}* ct_c,
    GLOBAL const ${dialect.ctype(src_a)}* ct_a, const ${idx} ct_a_off, const ${idx} ct_a_sb,
    const ${idx} ct_a_sm, const ${idx} ct_a_sk,
    GLOBAL const ${dialect.ctype(src_b)}* ct_b, const ${idx} ct_b_off, const ${idx} ct_b_sb,
    const ${idx} ct_b_sk, const ${idx} ct_b_sn,
    const ${idx} ct_batch, const ${idx} ct_m, const ${idx} ct_n, const ${idx} ct_k,
    const ${idx} ct_tiles_m, const ${idx} ct_tiles_n)
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
    for (${idx} ct_g = (${idx})GROUP_ID(0); ct_g < ct_batch * ct_tiles; ct_g += (${idx})NUM_GROUPS(0)) {
        const ${idx} ct_bi = ct_g / ct_tiles;
        const ${idx} ct_row0 = ((ct_g % ct_tiles) / ct_tiles_n) * ${TILE};
        const ${idx} ct_col0 = ((ct_g % ct_tiles) % ct_tiles_n) * ${TILE};
        const ${idx} ct_abase = ct_a_off + ct_bi * ct_a_sb;
        const ${idx} ct_bbase = ct_b_off + ct_bi * ct_b_sb;
% for i in range(WPT):
% for j in range(WPT):
        ${T} ct_acc${i}_${j} = 0;
% endfor
% endfor
        for (${idx} ct_k0 = 0; ct_k0 < ct_k; ct_k0 += ${TK}) {
            for (int ct_l = ct_tid; ct_l < ${TILE * TK}; ct_l += ${WG * WG}) {
                const int ct_i = ct_a_rows ? ct_l % ${TILE} : ct_l / ${TK};
                const int ct_kk = ct_a_rows ? ct_l / ${TILE} : ct_l % ${TK};
                const ${idx} ct_r = ct_row0 + ct_i;
                const ${idx} ct_kx = ct_k0 + ct_kk;
                ct_as[ct_kk][ct_i] = (ct_r < ct_m && ct_kx < ct_k) ?
                    ${load(src_a, "ct_a", "ct_abase + ct_r * ct_a_sm + ct_kx * ct_a_sk", T)} : (${T})0;
            }
            for (int ct_l = ct_tid; ct_l < ${TILE * TK}; ct_l += ${WG * WG}) {
                const int ct_j = ct_b_cols ? ct_l % ${TILE} : ct_l / ${TK};
                const int ct_kk = ct_b_cols ? ct_l / ${TILE} : ct_l % ${TK};
                const ${idx} ct_c0 = ct_col0 + ct_j;
                const ${idx} ct_kx = ct_k0 + ct_kk;
                ct_bs[ct_kk][ct_j] = (ct_c0 < ct_n && ct_kx < ct_k) ?
                    ${load(src_b, "ct_b", "ct_bbase + ct_kx * ct_b_sk + ct_c0 * ct_b_sn", T)} : (${T})0;
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
                ${store(out, "ct_c", "(ct_bi * ct_m + ct_r) * ct_n + ct_c0", "ct_acc%d_%d" % (i, j))};
            }
        }
% endfor
% endfor
    }
% endif
}
