# Reference numbers for `reddsim biomass`, computed by the BIOMASS R package itself.
#
# Runs the recipe of BIOMASS's vignette ("All together": every error propagated with a local
# H-D model) on its NouraguesTrees and NouraguesHD data:
#
#   HDmodel <- modelHD(D = NouraguesHD$D, H = NouraguesHD$H, method = "log2",
#                      useWeight = TRUE, bayesian = FALSE)
#   AGBmonteCarlo(D, WD, errWD, HDmodel = HDmodel, Dpropag = "chave2004", n = N)
#
# once per seed (set.seed(seed) before each AGBmonteCarlo call). D, WD and errWD are read from
# INPUTS.csv (columns plot, D, WD, sdWD, one row per NouraguesTrees tree in the package's
# order), the file `python -m benchmarks.biomass_check --export-inputs` writes: the wood
# densities and SDs are reddsim's Global Wood Density Database lookup, the ones
# `reddsim biomass` is given too, so both engines see identical inputs. The script checks
# that INPUTS.csv's D and plot are NouraguesTrees' own.
#
# Writes OUT.csv: per seed, then pooled over all seeds (seed = "all"), one row per plot and one
# for all plots ("total"): Mg, the mean, median, SD and 2.5/97.5% quantiles (R quantile type
# 7) of the Monte Carlo sums, as summaryByPlot() sums them; every row repeats the provenance
# (BIOMASS version and commit, R version, n). And OUT-hd.csv: the fitted log2 model's three
# coefficients and RSElog.
#
# BIOMASS's Imports proj4 and ggnewscale are not in Debian: they are used only by the
# coordinate functions (latlong2UTM, divide_plot, check_plot_coord), not by modelHD,
# predictHeight or AGBmonteCarlo, so the package can be installed from a source copy with
# those two lines removed from DESCRIPTION and importFrom(ggnewscale, new_scale) from
# NAMESPACE. Debian packages needed: r-base-core, r-cran-minpack.lm, r-cran-data.table,
# r-cran-rappdirs, r-cran-sf, r-cran-terra, r-cran-ggplot2, r-cran-stringdist, r-cran-stringr.
#
# Usage:
#   Rscript benchmarks/biomass_reference.R INPUTS.csv N SEEDS BIOMASS_COMMIT OUT.csv
# e.g. (the committed reference, tests/data/biomass/reference-agbmontecarlo.csv):
#   python -m benchmarks.biomass_check --export-inputs /tmp/inputs.csv
#   Rscript benchmarks/biomass_reference.R /tmp/inputs.csv 1000 1:10 \
#       abd33c2233aa1ab1bb1f51947fd29f8db1df37c2 tests/data/biomass/reference-agbmontecarlo.csv

suppressPackageStartupMessages(library(BIOMASS))

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 5) {
  stop("usage: Rscript biomass_reference.R INPUTS.csv N SEEDS BIOMASS_COMMIT OUT.csv")
}
inputs_path <- args[1]
n <- as.integer(args[2])
seeds <- eval(parse(text = args[3]))
commit <- args[4]
out_path <- args[5]

data("NouraguesTrees", package = "BIOMASS", envir = environment())
data("NouraguesHD", package = "BIOMASS", envir = environment())
inp <- read.csv(inputs_path, colClasses = c(plot = "character"))
if (nrow(inp) != nrow(NouraguesTrees) || any(inp$D != NouraguesTrees$D) ||
    any(inp$plot != as.character(NouraguesTrees$Plot))) {
  stop(inputs_path, ": D and plot are not NouraguesTrees' (same trees in the same order)")
}
if (any(!is.finite(inp$WD)) || any(!is.finite(inp$sdWD))) {
  stop(inputs_path, ": WD and sdWD must be finite for every tree")
}

HDmodel <- modelHD(D = NouraguesHD$D, H = NouraguesHD$H, method = "log2",
                   useWeight = TRUE, bayesian = FALSE)

summ <- function(x) {
  q <- quantile(x, probs = c(0.025, 0.5, 0.975), type = 7, names = FALSE)
  c(mean = mean(x), median = q[2], sd = sd(x), q2.5 = q[1], q97.5 = q[3])
}
fmt <- function(v) setNames(sprintf("%.10g", v), names(v))
plots <- unique(inp$plot)
by_plot <- function(agb) {
  # per-plot sums of the tree draws (rows: plots in order of appearance, then the total)
  s <- rowsum(agb, factor(inp$plot, levels = plots), na.rm = TRUE)
  rbind(s, total = colSums(agb, na.rm = TRUE))
}

draws <- list()
rows <- list()
for (seed in seeds) {
  set.seed(seed)
  res <- AGBmonteCarlo(D = inp$D, WD = inp$WD, errWD = inp$sdWD, HDmodel = HDmodel,
                       Dpropag = "chave2004", n = n)
  sums <- by_plot(res$AGB_simu)
  stopifnot(isTRUE(all.equal(unname(sums["total", ]),
                             unname(colSums(res$AGB_simu, na.rm = TRUE)))),
            isTRUE(all.equal(mean(sums["total", ]), res$meanAGB)))
  draws[[length(draws) + 1]] <- sums
  for (p in rownames(sums)) {
    rows[[length(rows) + 1]] <- c(seed = as.character(seed), plot = p,
                                  fmt(summ(sums[p, ])))
  }
}
pooled <- do.call(cbind, draws)
for (p in rownames(pooled)) {
  rows[[length(rows) + 1]] <- c(seed = "all", plot = p, fmt(summ(pooled[p, ])))
}
out <- as.data.frame(do.call(rbind, rows), stringsAsFactors = FALSE)
out$n <- n
out$biomass_version <- as.character(utils::packageVersion("BIOMASS"))
out$biomass_commit <- commit
out$r_version <- paste(R.version$major, R.version$minor, sep = ".")
write.csv(out, out_path, row.names = FALSE, quote = FALSE)

coef <- HDmodel$model$coefficients
hd <- data.frame(term = c("intercept", "logD", "logD2", "RSElog"),
                 value = sprintf("%.15g", c(unname(coef), HDmodel$RSElog)))
write.csv(hd, sub("\\.csv$", "-hd.csv", out_path), row.names = FALSE, quote = FALSE)
cat(sprintf("total over %d seeds x %d: mean %.2f Mg, SD %.2f, 95%% [%.2f, %.2f]\n",
            length(seeds), n, mean(pooled["total", ]), sd(pooled["total", ]),
            quantile(pooled["total", ], 0.025), quantile(pooled["total", ], 0.975)))
