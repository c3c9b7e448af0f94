/* The sequential part of the classic cells' forward and backward passes: the recurrence itself.

   Everything that reads all time steps at once (the input projections, the weight gradients, the
   gradient reaching the inputs) is a large matrix product PyTorch does well; what it does badly on a CPU is
   the recurrence itself: T tiny steps of a few thousand multiply-adds per row, each a few PyTorch operator
   calls (a loop of small operators for the GRU and the tanh RNN; oneDNN's fused kernel for the LSTM).
   Here the steps run in plain C loops the compiler vectorises: a few rows at a time (RB below), so each step's
   product h W_hh^T reads every weight once for all of them; rows are independent, so they split across
   threads with no synchronisation inside the loop, and each row's arithmetic is the same whatever the split.

   Layouts (float32, C order, batch major, as the model's batch_first tensors): x projections xw (B, T, G*H),
   both biases already added except the GRU's b_hn, which sits inside r * (W_hn h + b_hn); hidden states
   hs (B, T, H); the recurrent weights wt = W_hh^T (H, G*H) for the forward pass and w = W_hh (G*H, H) for
   the backward, each row zero-padded to np and hp floats, multiples of CW (below); gate blocks in PyTorch's
   order (LSTM i, f, g, o; GRU r, z, n). The initial state is zero.
   Gradients: dout (B, T, H) reaches each h_t from outside the recurrence; the backward pass writes the
   gradient of each step's pre-activations, dpre (B, T, G*H), from which the caller gets every weight's
   and input's gradient by matrix products, and for the GRU also duh (B, T, 3H), the gradient of
   W_hh h + b_hh (its n block differs from dpre's by the reset gate).

   Built by core/models/cpu_kernel.py with -O3 -march=native -ffast-math (the gate loops vectorise whole; there is
   no reduction to reorder), linked without it; plain C99, no library but libc and pthreads.
*/
#include <math.h>
#include <stdint.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum { RNN = 1, GRU = 3, LSTM = 4 };

typedef struct {
    int kind, T, B, H, np, hp, lo, hi, failed;
    const float *xw, *wt, *w, *bhn, *dout;
    float *hs, *cache, *dpre, *duh;
} Job;

/* exp(x) for x <= 0 (what tanh and the logistic function below need), inline so that loops of it vectorise
   whole, with no call into libm: exp(x) = 2^n exp(r), |r| <= ln(2)/2, exp(r) by Cephes' expf polynomial
   (relative error ~1e-7); below -87 it is 0 */
static inline float exp_neg(float x) {
    x = x < -87.0f ? -87.0f : x;
    const float n = floorf(x * 1.44269504088896341f + 0.5f);
    const float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    union { int32_t i; float f; } scale = {.i = ((int32_t)n + 127) << 23};  /* 2^n, n in [-126, 0] */
    return p * scale.f;
}

/* tanh(v) = sign(v) (1 - e) / (1 + e), e = exp(-2|v|): absolute error ~1e-7 */
static void tanh_(float *restrict v, int n) {
    for (int k = 0; k < n; k++) {
        const float e = exp_neg(-2.0f * fabsf(v[k]));
        v[k] = copysignf((1.0f - e) / (1.0f + e), v[k]);
    }
}

/* the logistic function, 1 / (1 + exp(-v)), from exp of a non-positive number either side of 0 */
static void sigmoid_(float *restrict v, int n) {
    for (int k = 0; k < n; k++) {
        const float e = exp_neg(-fabsf(v[k]));
        v[k] = v[k] >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
    }
}

/* a row loop's scratch buffers, any of them NULL */
static void free_all(float *a, float *b, float *c, float *d) {
    free(a);
    free(b);
    free(c);
    free(d);
}

/* Rows run RB at a time: the products of a step read each weight once for RB rows, from accumulators kept in
   registers across the whole sum (chunks of CW columns); the matrices' rows are padded to a multiple of CW.
   RB 6, CW 32 measured fastest of RB 2-8, CW 16-64 (an LSTM step, hidden 50, AVX-512). */
#define RB 6
#define CW 32

/* out[r][0:n] = (init[r] or 0)[0:n] + a[r][0:K] @ m (K, n; rows np apart), for the nb <= RB rows r */
static void block_product(int nb, const float *const *a_in, const float *restrict m, int K, int n, int np,
                          const float *const *init, float *const *out) {
    const float *a[RB];
    for (int r = 0; r < RB; r++) a[r] = a_in[r < nb ? r : 0];  /* missing rows: computed again, not stored */
    for (int j0 = 0; j0 < n; j0 += CW) {
        const int w = n - j0 < CW ? n - j0 : CW;
        float acc[RB][CW] = {{0.0f}};
        for (int k = 0; k < K; k++) {
            const float *restrict row = m + (size_t)k * np + j0;
            for (int r = 0; r < RB; r++) {
                const float ar = a[r][k];
                for (int c = 0; c < CW; c++) acc[r][c] += ar * row[c];
            }
        }
        for (int r = 0; r < nb; r++) {
            float *restrict o = out[r] + j0;
            if (init)
                for (int c = 0; c < w; c++) o[c] = init[r][j0 + c] + acc[r][c];
            else
                for (int c = 0; c < w; c++) o[c] = acc[r][c];
        }
    }
}

/* cache per step and row: RNN nothing; LSTM its activations (i, f, g, o) and c, 5H; GRU r, z, n and
   W_hn h + b_hn, 4H */
static void forward_rows(Job *j) {
    const int T = j->T, H = j->H, G = j->kind * H;
    const int C = j->kind == LSTM ? 5 * H : j->kind == GRU ? 4 * H : 0;
    float *u = malloc(sizeof(float) * G * RB), *zero = calloc(G, sizeof(float));  /* zero: h_0 */
    if (!u || !zero) {
        free_all(u, zero, NULL, NULL);
        j->failed = 1;
        return;
    }
    for (int b0 = j->lo; b0 < j->hi; b0 += RB) {
        const int nb = j->hi - b0 < RB ? j->hi - b0 : RB;
        const float *h[RB], *c[RB], *x[RB];
        float *pre[RB];
        for (int r = 0; r < RB; r++) h[r] = c[r] = zero;
        for (int t = 0; t < T; t++) {
            for (int r = 0; r < nb; r++) {
                const size_t at = (size_t)(b0 + r) * T + t;
                x[r] = j->xw + at * G;
                /* the LSTM's pre-activations go straight into its cache, then become activations in place */
                pre[r] = j->kind == LSTM ? j->cache + at * C : j->kind == RNN ? j->hs + at * H : u + (size_t)r * G;
            }
            /* x W_ih^T + b + h W_hh^T; the GRU keeps W_hh h apart (its n block is read through r) */
            block_product(nb, h, j->wt, H, G, j->np, j->kind == GRU ? NULL : x, pre);
            for (int r = 0; r < nb; r++) {
                const size_t at = (size_t)(b0 + r) * T + t;
                float *restrict hn = j->hs + at * H;
                float *cc = j->cache + at * C;
                if (j->kind == RNN) {
                    tanh_(hn, H);
                } else if (j->kind == LSTM) {
                    sigmoid_(cc, 2 * H);
                    tanh_(cc + 2 * H, H);
                    sigmoid_(cc + 3 * H, H);
                    const float *restrict gi = cc, *restrict gf = cc + H, *restrict gg = cc + 2 * H;
                    const float *restrict cp = c[r];
                    float *restrict cn = cc + 4 * H;
                    for (int k = 0; k < H; k++) cn[k] = gf[k] * cp[k] + gi[k] * gg[k];
                    for (int k = 0; k < H; k++) hn[k] = cn[k];
                    tanh_(hn, H);
                    for (int k = 0; k < H; k++) hn[k] *= cc[3 * H + k];
                    c[r] = cn;
                } else {
                    float *r_ = cc, *z = cc + H, *n = cc + 2 * H, *un = cc + 3 * H;  /* r and z side by side */
                    const float *uh = u + (size_t)r * G, *xr = x[r], *hp = h[r];
                    for (int k = 0; k < 2 * H; k++) r_[k] = xr[k] + uh[k];
                    sigmoid_(r_, 2 * H);
                    for (int k = 0; k < H; k++) un[k] = uh[2 * H + k] + j->bhn[k];
                    for (int k = 0; k < H; k++) n[k] = xr[2 * H + k] + r_[k] * un[k];
                    tanh_(n, H);
                    for (int k = 0; k < H; k++) hn[k] = n[k] + z[k] * (hp[k] - n[k]);
                }
                h[r] = hn;
            }
        }
    }
    free_all(u, zero, NULL, NULL);
}

/* One LSTM step back for one row: from dh (the total gradient reaching h_t) and dc (reaching c_t from step t+1) to
   the pre-activations' gradient dp (4H), and dc carried to c_{t-1}; cc the step's cache, c = c_{t-1} */
static void lstm_back(int H, const float *restrict cc, const float *restrict c, const float *restrict dh,
                      float *restrict dc, float *restrict dp, float *restrict tc) {
    const float *restrict gi = cc, *restrict gf = cc + H, *restrict gg = cc + 2 * H, *restrict go = cc + 3 * H;
    for (int k = 0; k < H; k++) tc[k] = cc[4 * H + k];
    tanh_(tc, H);  /* tanh(c_t) */
    for (int k = 0; k < H; k++) {
        const float d = dc[k] + dh[k] * go[k] * (1.0f - tc[k] * tc[k]);
        dp[k] = d * gg[k] * gi[k] * (1.0f - gi[k]);
        dp[H + k] = d * c[k] * gf[k] * (1.0f - gf[k]);
        dp[2 * H + k] = d * gi[k] * (1.0f - gg[k] * gg[k]);
        dp[3 * H + k] = dh[k] * tc[k] * go[k] * (1.0f - go[k]);
        dc[k] = d * gf[k];
    }
}

/* One GRU step back for one row: dp (3H) the gradient of x W_ih^T + b_ih's blocks, du (3H) that of W_hh h + b_hh's;
   dh becomes the direct path's share of the gradient reaching h_{t-1} (z dh); h = h_{t-1} */
static void gru_back(int H, const float *restrict cc, const float *restrict h, float *restrict dh,
                     float *restrict dp, float *restrict du) {
    const float *restrict r = cc, *restrict z = cc + H, *restrict n = cc + 2 * H, *restrict un = cc + 3 * H;
    for (int k = 0; k < H; k++) {
        const float dn = dh[k] * (1.0f - z[k]) * (1.0f - n[k] * n[k]);  /* through tanh */
        const float dr = dn * un[k] * r[k] * (1.0f - r[k]);
        const float dz = dh[k] * (h[k] - n[k]) * z[k] * (1.0f - z[k]);
        dp[k] = du[k] = dr;
        dp[H + k] = du[H + k] = dz;
        dp[2 * H + k] = dn;
        du[2 * H + k] = dn * r[k];
        dh[k] *= z[k];  /* the direct path h_{t-1} -> h_t */
    }
}

static void backward_rows(Job *j) {
    const int T = j->T, H = j->H, G = j->kind * H;
    const int C = j->kind == LSTM ? 5 * H : j->kind == GRU ? 4 * H : 0;
    float *dh = malloc(sizeof(float) * H * RB), *dc = malloc(sizeof(float) * H * RB);
    float *tc = malloc(sizeof(float) * H), *zero = calloc(H, sizeof(float));
    if (!dh || !dc || !tc || !zero) {
        free_all(dh, dc, tc, zero);
        j->failed = 1;
        return;
    }
    for (int b0 = j->lo; b0 < j->hi; b0 += RB) {
        const int nb = j->hi - b0 < RB ? j->hi - b0 : RB;
        memset(dh, 0, sizeof(float) * H * RB);
        memset(dc, 0, sizeof(float) * H * RB);
        const float *grads[RB], *direct[RB];
        float *dhs[RB];
        for (int t = T - 1; t >= 0; t--) {
            for (int r = 0; r < nb; r++) {
                const size_t at = (size_t)(b0 + r) * T + t;
                const float *restrict hn = j->hs + at * H, *restrict cc = j->cache + at * C;
                const float *restrict d = j->dout + at * H;
                const float *restrict h = t ? j->hs + (at - 1) * H : zero;  /* h_{t-1} */
                float *restrict dp = j->dpre + at * G;
                float *restrict dhr = dh + (size_t)r * H, *restrict dcr = dc + (size_t)r * H;
                for (int k = 0; k < H; k++) dhr[k] += d[k];  /* dh: the total gradient reaching h_t */
                if (j->kind == RNN) {
                    for (int k = 0; k < H; k++) dp[k] = dhr[k] * (1.0f - hn[k] * hn[k]);
                    grads[r] = dp;
                    direct[r] = NULL;
                } else if (j->kind == LSTM) {
                    lstm_back(H, cc, t ? j->cache + (at - 1) * C + 4 * H : zero, dhr, dcr, dp, tc);
                    grads[r] = dp;
                    direct[r] = NULL;
                } else {
                    float *du = j->duh + at * G;
                    gru_back(H, cc, h, dhr, dp, du);
                    grads[r] = du;
                    direct[r] = dhr;
                }
                dhs[r] = dhr;
            }
            /* dh_{t-1} = (the GRU's direct path) + dpre @ W_hh */
            block_product(nb, grads, j->w, G, H, j->hp, j->kind == GRU ? direct : NULL, dhs);
        }
    }
    free_all(dh, dc, tc, zero);
}

static void *forward_job(void *arg) { forward_rows((Job *)arg); return NULL; }
static void *backward_job(void *arg) { backward_rows((Job *)arg); return NULL; }

/* runs fn over the rows of proto split into `threads` contiguous ranges; the calling thread takes the first */
static int split_rows(Job proto, int threads, void *(*fn)(void *)) {
    if (threads < 1) threads = 1;
    if (threads > proto.B) threads = proto.B > 0 ? proto.B : 1;
    if (threads > 64) threads = 64;
    Job jobs[64];
    pthread_t ids[64];
    int started[64] = {0};
    for (int i = 0; i < threads; i++) {
        jobs[i] = proto;
        jobs[i].lo = (int)((long)proto.B * i / threads);
        jobs[i].hi = (int)((long)proto.B * (i + 1) / threads);
    }
    int failed = 0;
    for (int i = 1; i < threads; i++) {
        if (pthread_create(&ids[i], NULL, fn, &jobs[i]) == 0) started[i] = 1;
        else fn(&jobs[i]);  /* no thread to be had: run that range here */
    }
    fn(&jobs[0]);
    for (int i = 1; i < threads; i++)
        if (started[i] && pthread_join(ids[i], NULL) != 0) failed = 1;
    for (int i = 0; i < threads; i++) failed |= jobs[i].failed;
    return failed;
}

int rnnlab_forward(int kind, int T, int B, int H, int np, const float *xw, const float *wt, const float *bhn,
                   float *hs, float *cache, int threads) {
    if ((kind != RNN && kind != GRU && kind != LSTM) || T < 0 || B < 0 || H < 1 || np < kind * H) return 2;
    Job j = {kind, T, B, H, np, 0, 0, B, 0, xw, wt, NULL, bhn, NULL, hs, cache, NULL, NULL};
    return split_rows(j, threads, forward_job);
}

int rnnlab_backward(int kind, int T, int B, int H, int hp, const float *dout, const float *hs,
                    const float *cache, const float *w, float *dpre, float *duh, int threads) {
    if ((kind != RNN && kind != GRU && kind != LSTM) || T < 0 || B < 0 || H < 1 || hp < H) return 2;
    Job j = {kind, T, B, H, 0, hp, 0, B, 0, NULL, NULL, w, NULL, dout, (float *)hs, (float *)cache, dpre, duh};
    return split_rows(j, threads, backward_job);
}
