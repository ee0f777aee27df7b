# Reference values for cutover's rank-sum test (tests/analysis_reference.rs).
#
# Regenerate with:   Rscript tests/data/wilcox_reference.R > tests/data/wilcox_reference.csv
#
# Every case is R's own
#   wilcox.test(x, y, conf.int = TRUE, conf.level = 0.98, exact = FALSE, correct = TRUE)
# with the samples written out in full (17 significant digits, so they read back
# bit-for-bit). Where R cannot compute the interval (it stops, e.g. "all observations
# are tied" at an end of the search range), the statistic and p-value come from the same
# call with conf.int = FALSE and the `ci_error` column says why.
set.seed(20240611)

cases <- list()
add <- function(name, x, y) cases[[length(cases) + 1]] <<- list(name = name, x = x, y = y)

add("r_help_example",
    c(1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30),
    c(0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29))
add("ties_rounded_normal", round(rnorm(30, 10, 1), 1), round(rnorm(25, 10.3, 1), 1))
add("heavy_ties_small_integers", sample(1:3, 40, replace = TRUE), sample(1:4, 35, replace = TRUE))
add("constant_canary", rep(5, 12), round(rnorm(15, 5, 2), 2))
add("both_constant_different", rep(1, 6), rep(3, 8))
add("both_constant_equal", rep(2, 5), rep(2, 7))
add("tiny_1_vs_1", 1.5, 2.5)
add("tiny_1_vs_5", 3, c(1, 2, 4, 5, 6))
add("tiny_2_vs_3", c(0.3, 0.9), c(0.1, 0.5, 1.4))
add("tiny_3_vs_3", c(10, 12, 11), c(9, 13, 8))
add("large_500_shift", rnorm(500, 0.1, 1), rnorm(500, 0, 1))
add("large_lognormal_500_vs_400", rlnorm(500, 5, 0.5), rlnorm(400, 5.05, 0.5))
add("nans_removed_first", c(1.2, NaN, 3.4, 2.2, NaN, 5.1, 0.7), c(NaN, 2.9, 4.4, 1.1, 3.3))
add("outliers", c(rnorm(60, 100, 5), 1e6, 2e6), c(rnorm(60, 102, 5), 5e5))
add("zero_inflated_error_rates",
    rbinom(80, 1, 0.15) * runif(80, 0, 0.05), rbinom(80, 1, 0.10) * runif(80, 0, 0.05))
add("zero_inflated_mostly_zero", c(rep(0, 45), 0.01, 0.02, 0.5), c(rep(0, 47), 0.03))
add("different_sizes_10_vs_200", rnorm(10, 1, 1), rnorm(200, 0, 1))
add("latency_exponential_100", rexp(100, 1 / 120), rexp(100, 1 / 114))
add("identical_samples", c(3.1, 4.1, 5.9, 2.6, 5.3), c(3.1, 4.1, 5.9, 2.6, 5.3))
add("negative_values", rnorm(40, -50, 10), rnorm(35, -45, 10))
add("large_scale_ms", round(rlnorm(150, 13, 0.3)), round(rlnorm(150, 13.02, 0.3)))
add("small_scale_seconds", rnorm(50, 2e-3, 3e-4), rnorm(50, 2.1e-3, 3e-4))
add("one_vs_59_endpoint", 1, 2:60)
add("poisson_counts_50", rpois(50, 4), rpois(50, 5))
add("cauchy_heavy_tails_200", rcauchy(200, 0, 1), rcauchy(200, 0.3, 1))
add("zeros_and_signs", c(-2, -1, 0, 0, 0, 1, 2, 3), c(-1, 0, 0, 1, 1, 4))
add("large_2000_heavy_ties", round(rnorm(2000, 20, 3)), round(rnorm(2000, 20.2, 3)))
add("bimodal", c(rnorm(40, 0, 1), rnorm(40, 8, 1)), c(rnorm(50, 1, 1), rnorm(30, 9, 1)))
add("complete_separation", runif(20, 10, 11), runif(20, 0, 1))
add("small_vs_large_ties", c(2, 2, 3), sample(1:5, 100, replace = TRUE))

fmt <- function(v) {
  if (length(v) == 0) return("")
  s <- ifelse(is.nan(v), "NaN", sprintf("%.17g", v))
  paste(s, collapse = " ")
}
num <- function(v) if (is.null(v) || is.na(v)) "NA" else sprintf("%.17g", v)

cat("case,x,y,statistic,p_value,estimate,conf_low,conf_high,ci_error\n")
for (case in cases) {
  x <- case$x
  y <- case$y
  ci_error <- ""
  res <- tryCatch(
    suppressWarnings(wilcox.test(x, y, conf.int = TRUE, conf.level = 0.98,
                                 exact = FALSE, correct = TRUE)),
    error = function(e) e)
  if (inherits(res, "error")) {
    ci_error <- gsub("[,\n\"]", " ", conditionMessage(res))
    res <- suppressWarnings(wilcox.test(x, y, conf.int = FALSE, exact = FALSE, correct = TRUE))
    estimate <- NA; low <- NA; high <- NA
  } else {
    estimate <- unname(res$estimate); low <- res$conf.int[1]; high <- res$conf.int[2]
  }
  cat(case$name, fmt(x), fmt(y), num(unname(res$statistic)), num(res$p.value),
      num(estimate), num(low), num(high), ci_error, sep = ",")
  cat("\n")
}
